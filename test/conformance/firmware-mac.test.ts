// The whole-image MAC of a FIRMWARE download (PROTOCOL.md §10, D-10): KF[g] = KDF(OK[FIRMWARE, g],
// "vakt-e2e", meterId ‖ 0x06 ‖ 0x02 ‖ g) and mac = CMAC(KF[g], image). The node:crypto reference
// (reference.ts, AES-ECB-based CMAC) recomputes the committed vector; the HES's firmwareImageMac and
// the meter's key store + download state machine must agree with it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoder } from 'cbor-x';
import * as core from '@vakt/shared';
import { MeterKeys } from '@vakt/firmware/meter/keystore';
import { FirmwareDownload, ACT_OK, ACT_REJECTED, FW_OK } from '@vakt/firmware/meter/fwupdate';
import { firmwareImageMac } from '../../host/src/hes/commands.ts';
import { FakeStorage } from '../firmware/harness.ts';
import * as ref from './reference.ts';

const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hx = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const OP_FIRMWARE = 0x06;

interface E2eFile {
  testKeys: Record<string, string>;
  firmwareImage: { image: string; gen: number; opRoot: string; imageKey: string; mac: string };
  frames: { name: string; body: string }[];
}
const vec: E2eFile = JSON.parse(readFileSync(new URL('../vectors/e2e.json', import.meta.url), 'utf8'));
const meterId = b(vec.testKeys.meterId);
const masterKey = b(vec.testKeys.masterKey);
// The TEST image of the vector: byte i = 7·i mod 256.
const image = new Uint8Array(65536).map((_, i) => (i * 7) & 255);

describe('firmware image MAC (D-10)', () => {
  it('the committed vector: OK[FIRMWARE, 0], KF[0] and the MAC in the BEGIN body match the reference', () => {
    const fi = vec.firmwareImage;
    const ok = ref.refOpRoot(masterKey, meterId, OP_FIRMWARE, 0);
    expect(hx(ok)).toBe(fi.opRoot);
    const kf = ref.refImageKey(ok, meterId, 0);
    expect(hx(kf)).toBe(fi.imageKey);
    // KF is the e2e frame-key derivation with direction byte 2, and differs from both frame keys.
    expect(hx(kf)).toBe(hx(ref.refE2eKey(ok, meterId, OP_FIRMWARE, 2, 0)));
    expect(hx(kf)).not.toBe(hx(ref.refE2eKey(ok, meterId, OP_FIRMWARE, 0, 0)));
    expect(hx(kf)).not.toBe(hx(ref.refE2eKey(ok, meterId, OP_FIRMWARE, 1, 0)));
    expect(hx(ref.refImageMac(ok, meterId, 0, image))).toBe(fi.mac);
    const begin = vec.frames.find((f) => f.name.startsWith('FIRMWARE down begin'))!;
    const body = new Decoder({ mapsAsObjects: false, useRecords: false }).decode(Buffer.from(begin.body, 'hex')) as unknown[];
    expect(body.length).toBe(5);
    expect(body.slice(0, 3)).toEqual([22, 1, image.length]);
    expect(hx(body[3] as Uint8Array)).toBe(fi.mac);
  });

  it('the HES (firmwareImageMac) agrees with the reference for any image, key and generation', () => {
    const ctx = core.createCryptoCtx();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 255 }),
        (ok, img, gen) => {
          expect(hx(firmwareImageMac(ctx, ok, 0, meterId, gen, img))).toBe(hx(ref.refImageMac(ok, meterId, gen, img)));
        },
      ),
      { numRuns: 100 },
    );
    const ok = ref.refOpRoot(masterKey, meterId, OP_FIRMWARE, 0);
    expect(hx(firmwareImageMac(ctx, ok, 0, meterId, 0, image))).toBe(vec.firmwareImage.mac);
  });

  it('the meter (MeterKeys.imageKey + FirmwareDownload) verifies the reference MAC of the image it stored', () => {
    const ctx = core.createCryptoCtx();
    const st = new FakeStorage();
    const prov = {
      meterId,
      masterKey,
      linkKey: new Uint8Array(16).fill(9),
      linkGen: 0,
      concentratorId: b('434f4e4345303031'),
      hesId: b('4845532d30303031'),
      shortAddr: 1,
    };
    const keys = new MeterKeys(ctx, st, prov, 8);
    const fw = new FirmwareDownload(st);
    const mac = new Uint8Array(ref.refImageMac(ref.refOpRoot(masterKey, meterId, OP_FIRMWARE, 0), meterId, 0, image));
    expect(keys.imageKey(1)).toBeNull(); // not the FIRMWARE generation in force
    expect(fw.begin(image.length, mac, 0, 3, 0)).toBe(FW_OK);
    for (let off = 0; off < image.length; off += 512) expect(fw.chunk(off, image, off, 512)).toBe(FW_OK);
    expect(fw.activate(ctx, keys)).toBe(ACT_OK);
    // The key store still works after lending its shared slot: a response key derives as before.
    expect(keys.up(OP_FIRMWARE)).not.toBeNull();
    // One flipped MAC bit: rejected.
    const bad = new Uint8Array(mac);
    bad[15] ^= 1;
    fw.begin(1000, bad, 0, 4, 0);
    fw.chunk(0, image, 0, 1000);
    expect(fw.activate(ctx, keys)).toBe(ACT_REJECTED);
  });
});
