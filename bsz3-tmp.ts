import { buildFirmware } from './scripts/build-firmware.ts';
const r = await buildFirmware({ outDir: '/tmp/bsz-mine', only: ['deliverables'] });
for (const b of r.bundles) if (b.name.startsWith('meter') || b.name === 'concentrator') console.log(b.name, b.raw);
