import { buildFirmware } from './scripts/build-firmware.ts';
const r = await buildFirmware({ outDir: '/tmp/bsz-mine', only: ['deliverables'] });
const m = r.bundles.find((b) => b.name === 'meter') as unknown as { raw: number; modules?: { path: string; bytes: number }[] };
console.log(m.raw, JSON.stringify(m.modules?.slice(0, 30)));
