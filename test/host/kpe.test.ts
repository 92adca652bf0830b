// KPE: key generation, provisioning images and the signed/encrypted shipment.
// Known answers: RFC 7748 §6.1 (X25519), RFC 5869 test case 1 (HKDF-SHA-256), McGrew–Viega GCM test
// case 4 (AES-GCM), as listed in /work/shared/notes/vectors.md §6–§7; images cross-checked with cbor-x.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecipheriv } from 'node:crypto';
import { x25519, ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { gcm } from '@noble/ciphers/aes.js';
import { decode as cborxDecode } from 'cbor-x';
import { fromHex, toHex } from '../../host/src/crypto/bytes.ts';
import { gcmSeal, gcmOpen } from '../../host/src/crypto/aead.ts';
import {
  sealShipment,
  openShipment,
  parseShipmentHeader,
  shipmentKey,
  ShipmentError,
  SHIPMENT_HEADER_LEN,
} from '../../host/src/crypto/shipment.ts';
import { initKpe, openKpe, produceBatch } from '../../host/src/kpe/kpe.ts';
import { decodePayload, encodePayload } from '../../host/src/kpe/payload.ts';
import { parseImage } from '../../host/src/kpe/image.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'vakt-kpe-'));

describe('published vectors for the shipment primitives', () => {
  it('X25519 RFC 7748 §6.1', async () => {
    const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bPub = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(toHex(x25519.getPublicKey(a))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(x25519.getSharedSecret(a, bPub))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });
  it('HKDF-SHA-256 RFC 5869 test case 1', async () => {
    const okm = hkdf(sha256, new Uint8Array(22).fill(0x0b), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });
  it('AES-GCM McGrew–Viega test case 4 (noble, as used by the shipment)', async () => {
    const ct = gcm(
      fromHex('feffe9928665731c6d6a8f9467308308'),
      fromHex('cafebabefacedbaddecaf888'),
      fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2'),
    ).encrypt(
      fromHex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39'),
    );
    expect(toHex(ct)).toBe(
      '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091' +
        '5bc94fbc3221a5db94fae95ae7121a47',
    );
  });
  it('store AEAD (node:crypto) round-trips and refuses a wrong key or moved ciphertext', async () => {
    const k = new Uint8Array(32).fill(7);
    const s = gcmSeal(k, fromHex('00112233'), fromHex('aa'));
    expect(toHex(gcmOpen(k, s, fromHex('aa'))!)).toBe('00112233');
    expect(gcmOpen(new Uint8Array(32).fill(8), s, fromHex('aa'))).toBeNull();
    expect(gcmOpen(k, s, fromHex('ab'))).toBeNull();
    expect(gcmOpen(k, s.subarray(0, 10), fromHex('aa'))).toBeNull();
  });
});

function hesKeys() {
  const secret = x25519.utils.randomSecretKey();
  return { secret, pub: x25519.getPublicKey(secret), id: fromHex('48e5000000000001') };
}

describe('shipment', () => {
  const kpeSecret = ed25519.utils.randomSecretKey();
  const kpePub = ed25519.getPublicKey(kpeSecret);
  const hes = hesKeys();
  const payload = new TextEncoder().encode('payload bytes');
  const make = (seq = 1) => sealShipment({ payload, seq, kpeSecret, hesId: hes.id, hesPub: hes.pub });
  const open = (b: Uint8Array, pins = [kpePub], h = hes) => openShipment(b, { pinnedKpePubs: pins, hesId: h.id, hesSecret: h.secret });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ShipmentError) return e.code;
      throw e;
    }
    return 'ACCEPTED';
  };

  it('round-trips and exposes its authenticated header', async () => {
    const s = make(7);
    const r = open(s);
    expect(new TextDecoder().decode(r.payload)).toBe('payload bytes');
    expect(r.header.seq).toBe(7);
    expect(toHex(r.header.hesPub)).toBe(toHex(hes.pub));
  });

  it('is decryptable by an independent reading of the format (node:crypto GCM, noble HKDF)', async () => {
    const s = make();
    const eph = s.subarray(110, 142);
    const id = s.subarray(10, 26);
    const shared = x25519.getSharedSecret(hes.secret, eph);
    const key = hkdf(
      sha256,
      shared,
      new Uint8Array([...eph, ...hes.pub]),
      new Uint8Array([...new TextEncoder().encode('vakt-shipment-v1'), ...id]),
      32,
    );
    expect(toHex(key)).toBe(toHex(shipmentKey(shared, eph, hes.pub, id)));
    const ctLen = Buffer.from(s.subarray(154, 158)).readUInt32BE(0);
    const ct = s.subarray(SHIPMENT_HEADER_LEN, SHIPMENT_HEADER_LEN + ctLen);
    const d = createDecipheriv('aes-256-gcm', key, s.subarray(142, 154));
    d.setAAD(s.subarray(0, SHIPMENT_HEADER_LEN));
    d.setAuthTag(ct.subarray(ct.length - 16));
    const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
    expect(pt.toString()).toBe('payload bytes');
    const sig = s.subarray(s.length - 64);
    expect(
      ed25519.verify(
        sig,
        new Uint8Array([...new TextEncoder().encode('vakt-shipment-signature-v1'), ...s.subarray(0, s.length - 64)]),
        kpePub,
      ),
    ).toBe(true);
  });

  it('refuses every single-byte change anywhere in the file', async () => {
    const s = make();
    const seen = new Set<string>();
    for (let i = 0; i < s.length; i++) {
      const t = s.slice();
      t[i] ^= 0x01;
      const c = code(() => open(t));
      expect(c, `byte ${i}`).not.toBe('ACCEPTED');
      seen.add(c);
    }
    // Magic/version/suite/length → MALFORMED, signer field → FOREIGN_SIGNER, the rest → BAD_SIGNATURE.
    expect([...seen].sort()).toEqual(['BAD_SIGNATURE', 'FOREIGN_SIGNER', 'MALFORMED']);
  });

  it('refuses truncation at every length and any extension', async () => {
    const s = make();
    for (let n = 0; n < s.length; n++) expect(code(() => open(s.subarray(0, n)))).toBe('MALFORMED');
    expect(code(() => open(new Uint8Array([...s, 0])))).toBe('MALFORMED');
  });

  it('refuses a shipment signed by a foreign KPE even when well formed', async () => {
    const evil = ed25519.utils.randomSecretKey();
    const s = sealShipment({ payload, seq: 1, kpeSecret: evil, hesId: hes.id, hesPub: hes.pub });
    expect(code(() => open(s))).toBe('FOREIGN_SIGNER');
    // Re-signing a genuine shipment with the attacker's key does not help either.
    expect(code(() => open(s, [kpePub]))).toBe('FOREIGN_SIGNER');
  });

  it('refuses a genuine shipment for another HES', async () => {
    const other = hesKeys();
    const s = sealShipment({ payload, seq: 1, kpeSecret, hesId: other.id, hesPub: other.pub });
    expect(code(() => open(s))).toBe('WRONG_RECIPIENT');
  });

  it('parseShipmentHeader never throws anything but ShipmentError on random garbage', async () => {
    for (let i = 0; i < 300; i++) {
      const g = new Uint8Array(Math.floor(Math.random() * 400)).map(() => Math.floor(Math.random() * 256));
      if (i % 2 === 0 && g.length >= 8) g.set(new TextEncoder().encode('VAKTSHP1'));
      expect(code(() => parseShipmentHeader(g))).toBe('MALFORMED');
    }
  });
});

describe('KPE batch', () => {
  it('produces unique ids, per-device images and a shipment the HES key opens', async () => {
    const dir = tmp();
    const kpe = initKpe(dir);
    expect(() => initKpe(dir)).toThrow(/refusing to overwrite/);
    const hes = hesKeys();
    const out = join(dir, 'batch');
    const r = produceBatch(openKpe(dir), { meters: 10, concentrators: 3, hesCert: { hesId: hes.id, x25519: hes.pub }, outDir: out });
    expect(r.seq).toBe(1);
    const ids = new Set([...r.meters, ...r.concentrators].map((d) => toHex(d.id)));
    expect(ids.size).toBe(13);
    const files = readdirSync(out).filter((f) => f.endsWith('.prov.cbor'));
    expect(files.length).toBe(13);
    const m = r.meters[4]!;
    const raw = readFileSync(join(out, `${toHex(m.id)}.prov.cbor`));
    // Independent decoder: a plain CBOR array exactly as PROTOCOL.md §11.
    const v = cborxDecode(raw) as unknown[];
    expect(v.length).toBe(9);
    expect(v[8]).toBe(m.shortAddr); // short address on its concentrator's radio hop (PROTOCOL.md §7)
    // Never ambiguous within a concentrator.
    const at = r.meters.map((x) => toHex(x.concentratorId) + '/' + x.shortAddr);
    expect(new Set(at).size).toBe(r.meters.length);
    expect(v[0]).toBe(1);
    expect(v[1]).toBe(1);
    expect(toHex(v[2] as Uint8Array)).toBe(toHex(m.id));
    expect(toHex(v[3] as Uint8Array)).toBe(toHex(m.masterKey));
    expect(toHex(v[4] as Uint8Array)).toBe(toHex(m.linkKey));
    expect(v[5]).toBe(0);
    expect(toHex(v[6] as Uint8Array)).toBe(toHex(m.concentratorId));
    expect(toHex(v[7] as Uint8Array)).toBe(toHex(hes.id));
    expect(raw[0]).toBe(0x89); // array(9), no tags
    const c = parseImage(readFileSync(join(out, `${toHex(r.concentrators[0]!.id)}.prov.cbor`)));
    expect(c.kind).toBe('concentrator');

    const opened = openShipment(readFileSync(r.shipmentFile), { pinnedKpePubs: [kpe.pub], hesId: hes.id, hesSecret: hes.secret });
    const p = decodePayload(opened.payload);
    expect(p.meters.map((x) => toHex(x.masterKey))).toEqual(r.meters.map((x) => toHex(x.masterKey)));
    expect(p.concentrators.length).toBe(3);

    const r2 = produceBatch(openKpe(dir), {
      meters: 2,
      concentrators: 1,
      hesCert: { hesId: hes.id, x25519: hes.pub },
      outDir: join(dir, 'b2'),
    });
    expect(r2.seq).toBe(2);
    for (const d of r2.meters) expect(ids.has(toHex(d.id))).toBe(false);
  });

  it('payload decoder refuses malformed structures', async () => {
    const id = fromHex('0102030405060708');
    const good = { hesId: id, meters: [], concentrators: [{ id, linkKey: new Uint8Array(16), linkGen: 0 }] };
    expect(decodePayload(encodePayload(good)).concentrators.length).toBe(1);
    expect(() => decodePayload(encodePayload({ ...good, concentrators: [good.concentrators[0]!, good.concentrators[0]!] }))).toThrow(
      /duplicate/,
    );
    expect(() => decodePayload(encodePayload({ ...good, concentrators: [{ id, linkKey: new Uint8Array(15), linkGen: 0 }] }))).toThrow(
      /16-byte/,
    );
    expect(() =>
      decodePayload(
        encodePayload({
          ...good,
          meters: [
            {
              id: fromHex('1111111111111111'),
              masterKey: new Uint8Array(16),
              linkKey: new Uint8Array(16),
              linkGen: 0,
              concentratorId: fromHex('9999999999999999'),
              shortAddr: 1,
            },
          ],
        }),
      ),
    ).toThrow(/not in this shipment/);
    expect(() => decodePayload(new Uint8Array([0xff]))).toThrow(TypeError);
  });
});

describe('KPE key protection', () => {
  it('a passphrase-protected KPE key opens only with its passphrase and is not in clear on disk', async () => {
    const dir = tmp();
    const k = initKpe(dir, 'correct horse');
    const raw = readFileSync(join(dir, 'kpe.key'), 'utf8');
    expect(raw).not.toContain(toHex(k.secret));
    expect(toHex(openKpe(dir, 'correct horse').pub)).toBe(toHex(k.pub));
    expect(() => openKpe(dir)).toThrow(/passphrase-protected/);
    expect(() => openKpe(dir, 'wrong')).toThrow(/wrong KPE passphrase/);
  });
});
