// Known answers for AES-CCM (shared/src/ccm.ts).
// Sources: RFC 3610 §8 packet vectors #1-#24 (M = 8 and 10, L = 2, 13-byte nonce; the RFC lists
// each packet as header || payload, split here into AAD and message at the stated header length);
// IEEE 802.15.4-2006 Annex C.2.1 (beacon, MIC-64) and C.2.3 (MAC command, ENC-MIC-64), as
// reproduced in OpenThread tests/unit/test_aes.cpp (shared/notes/vectors.md §5).
// Every vector is additionally re-derived with OpenSSL aes-128-ccm to catch transcription slips.
import { describe, expect, it } from 'vitest';
import { expandKey } from '../../shared/src/aes.ts';
import { ccmOpen, ccmSeal, ccmTagLenOk } from '../../shared/src/ccm.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { bytesToHex, hexToBytes } from '../../shared/src/utils.ts';
import { nodeCcmSeal } from './core-ref.ts';

interface CcmVector { name: string; key: string; nonce: string; aad: string; msg: string; out: string; tagLen: number }

const KA = 'C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF';
const KB = 'D7828D13B2B0BDC325A76236DF93CC6B';
const A8 = '0001020304050607';
const A12 = '000102030405060708090A0B';
const P23 = '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E';
const P19 = '0C0D0E0F101112131415161718191A1B1C1D1E';

const RFC3610: CcmVector[] = [
  { name: '#1', key: KA, nonce: '00000003020100A0A1A2A3A4A5', aad: A8, msg: P23, out: '588C979A61C663D2F066D0C2C0F989806D5F6B61DAC38417E8D12CFDF926E0', tagLen: 8 },
  { name: '#2', key: KA, nonce: '00000004030201A0A1A2A3A4A5', aad: A8, msg: P23 + '1F', out: '72C91A36E135F8CF291CA894085C87E3CC15C439C9E43A3BA091D56E10400916', tagLen: 8 },
  { name: '#3', key: KA, nonce: '00000005040302A0A1A2A3A4A5', aad: A8, msg: P23 + '1F20', out: '51B1E5F44A197D1DA46B0F8E2D282AE871E838BB64DA8596574ADAA76FBD9FB0C5', tagLen: 8 },
  { name: '#4', key: KA, nonce: '00000006050403A0A1A2A3A4A5', aad: A12, msg: P19, out: 'A28C6865939A9A79FAAA5C4C2A9D4A91CDAC8C96C861B9C9E61EF1', tagLen: 8 },
  { name: '#5', key: KA, nonce: '00000007060504A0A1A2A3A4A5', aad: A12, msg: P19 + '1F', out: 'DCF1FB7B5D9E23FB9D4E131253658AD86EBDCA3E51E83F077D9C2D93', tagLen: 8 },
  { name: '#6', key: KA, nonce: '00000008070605A0A1A2A3A4A5', aad: A12, msg: P19 + '1F20', out: '6FC1B011F006568B5171A42D953D469B2570A4BD87405A0443AC91CB94', tagLen: 8 },
  { name: '#7', key: KA, nonce: '00000009080706A0A1A2A3A4A5', aad: A8, msg: P23, out: '0135D1B2C95F41D5D1D4FEC185D166B8094E999DFED96C048C56602C97ACBB7490', tagLen: 10 },
  { name: '#8', key: KA, nonce: '0000000A090807A0A1A2A3A4A5', aad: A8, msg: P23 + '1F', out: '7B75399AC0831DD2F0BBD75879A2FD8F6CAE6B6CD9B7DB24C17B4433F434963F34B4', tagLen: 10 },
  { name: '#9', key: KA, nonce: '0000000B0A0908A0A1A2A3A4A5', aad: A8, msg: P23 + '1F20', out: '82531A60CC24945A4B8279181AB5C84DF21CE7F9B73F42E197EA9C07E56B5EB17E5F4E', tagLen: 10 },
  { name: '#10', key: KA, nonce: '0000000C0B0A09A0A1A2A3A4A5', aad: A12, msg: P19, out: '07342594157785152B074098330ABB141B947B566AA9406B4D999988DD', tagLen: 10 },
  { name: '#11', key: KA, nonce: '0000000D0C0B0AA0A1A2A3A4A5', aad: A12, msg: P19 + '1F', out: '676BB20380B0E301E8AB79590A396DA78B834934F53AA2E9107A8B6C022C', tagLen: 10 },
  { name: '#12', key: KA, nonce: '0000000E0D0C0BA0A1A2A3A4A5', aad: A12, msg: P19 + '1F20', out: 'C0FFA0D6F05BDB67F24D43A4338D2AA4BED7B20E43CD1AA31662E7AD65D6DB', tagLen: 10 },
  { name: '#13', key: KB, nonce: '00412B4EA9CDBE3C9696766CFA', aad: '0BE1A88BACE018B1', msg: '08E8CF97D820EA258460E96AD9CF5289054D895CEAC47C', out: '4CB97F86A2A4689A877947AB8091EF5386A6FFBDD080F8E78CF7CB0CDDD7B3', tagLen: 8 },
  { name: '#14', key: KB, nonce: '0033568EF7B2633C9696766CFA', aad: '63018F76DC8A1BCB', msg: '9020EA6F91BDD85AFA0039BA4BAFF9BFB79C7028949CD0EC', out: '4CCB1E7CA981BEFAA0726C55D378061298C85C92814ABC33C52EE81D7D77C08A', tagLen: 8 },
  { name: '#15', key: KB, nonce: '00103FE41336713C9696766CFA', aad: 'AA6CFA36CAE86B40', msg: 'B916E0EACC1C00D7DCEC68EC0B3BBB1A02DE8A2D1AA346132E', out: 'B1D23A2220DDC0AC900D9AA03C61FCF4A559A4417767089708A776796EDB723506', tagLen: 8 },
  { name: '#16', key: KB, nonce: '00764C63B8058E3C9696766CFA', aad: 'D0D0735C531E1BECF049C244', msg: '12DAAC5630EFA5396F770CE1A66B21F7B2101C', out: '14D253C3967B70609B7CBB7C499160283245269A6F49975BCADEAF', tagLen: 8 },
  { name: '#17', key: KB, nonce: '00F8B678094E3B3C9696766CFA', aad: '77B60F011C03E1525899BCAE', msg: 'E88B6A46C78D63E52EB8C546EFB5DE6F75E9CC0D', out: '5545FF1A085EE2EFBF52B2E04BEE1E2336C73E3F762C0C7744FE7E3C', tagLen: 8 },
  { name: '#18', key: KB, nonce: '00D560912D3F703C9696766CFA', aad: 'CD9044D2B71FDB8120EA60C0', msg: '6435ACBAFB11A82E2F071D7CA4A5EBD93A803BA87F', out: '009769ECABDF48625594C59251E6035722675E04C847099E5AE0704551', tagLen: 8 },
  { name: '#19', key: KB, nonce: '0042FFF8F1951C3C9696766CFA', aad: 'D85BC7E69F944FB8', msg: '8A19B950BCF71A018E5E6701C91787659809D67DBEDD18', out: 'BC218DAA947427B6DB386A99AC1AEF23ADE0B52939CB6A637CF9BEC2408897C6BA', tagLen: 10 },
  { name: '#20', key: KB, nonce: '00920F40E56CDC3C9696766CFA', aad: '74A0EBC9069F5B37', msg: '1761433C37C5A35FC1F39F406302EB907C6163BE38C98437', out: '5810E6FD25874022E80361A478E3E9CF484AB04F447EFFF6F0A477CC2FC9BF548944', tagLen: 10 },
  { name: '#21', key: KB, nonce: '0027CA0C7120BC3C9696766CFA', aad: '44A3AA3AAE6475CA', msg: 'A434A8E58500C6E41530538862D686EA9E81301B5AE4226BFA', out: 'F2BEED7BC5098E83FEB5B31608F8E29C38819A89C8E776F1544D4151A4ED3A8B87B9CE', tagLen: 10 },
  { name: '#22', key: KB, nonce: '005B8CCBCD9AF83C9696766CFA', aad: 'EC46BB63B02520C33C49FD70', msg: 'B96B49E21D621741632875DB7F6C9243D2D7C2', out: '31D750A09DA3ED7FDDD49A2032AABF17EC8EBF7D22C8088C666BE5C197', tagLen: 10 },
  { name: '#23', key: KB, nonce: '003EBE94044B9A3C9696766CFA', aad: '47A65AC78B3D594227E85E71', msg: 'E2FCFBB880442C731BF95167C8FFD7895E337076', out: 'E882F1DBD38CE3EDA7C23F04DD65071EB41342ACDF7E00DCCEC7AE52987D', tagLen: 10 },
  { name: '#24', key: KB, nonce: '008D493B30AE8B3C9696766CFA', aad: '6E37A6EF546D955D34AB6059', msg: 'ABF21C0B02FEB88F856DF4A37381BCE3CC128517D4', out: 'F32905B88A641B04B9C9FFB58CC390900F3DA12AB16DCE9E82EFA16DA62059', tagLen: 10 },
];

// IEEE 802.15.4-2006 Annex C: nonce = source ext. address || frame counter || security level;
// CCM* with L = 2 and a 13-byte nonce, i.e. exactly Vakt's parameters.
const IEEE802154: CcmVector[] = [
  { name: 'C.2.1 beacon, MIC-64 (level 2, auth only)', key: KA, nonce: 'ACDE480000000001' + '00000005' + '02', aad: '08D0842143010000000048DEAC020500000055CF000051525354', msg: '', out: '223BC1EC841AB553', tagLen: 8 },
  { name: 'C.2.3 MAC command, ENC-MIC-64 (level 6)', key: KA, nonce: 'ACDE480000000001' + '00000005' + '06', aad: '2BDC842143020000000048DEACFFFF010000000048DEAC060500000001', msg: 'CE', out: 'D8' + '4FDE529061F9C6F1', tagLen: 8 },
];

const ctx = createCryptoCtx();
const rk = new Uint32Array(44);

function check(v: CcmVector): void {
  const key = hexToBytes(v.key);
  const nonce = hexToBytes(v.nonce);
  const aad = hexToBytes(v.aad);
  const msg = hexToBytes(v.msg);
  // Transcription guard: OpenSSL must agree with the published bytes.
  expect(bytesToHex(nodeCcmSeal(key, nonce, aad, msg, v.tagLen))).toBe(v.out.toLowerCase());
  expandKey(key, 0, rk);
  const out = new Uint8Array(msg.length + v.tagLen);
  ccmSeal(ctx, rk, nonce, 0, aad, 0, aad.length, msg, 0, msg.length, v.tagLen, out, 0);
  expect(bytesToHex(out)).toBe(v.out.toLowerCase());
  const back = new Uint8Array(msg.length);
  expect(ccmOpen(ctx, rk, nonce, 0, aad, 0, aad.length, out, 0, msg.length, out, msg.length, v.tagLen, back, 0)).toBe(true);
  expect(bytesToHex(back)).toBe(v.msg.toLowerCase());
  // One flipped bit in the tag must fail and zero the plaintext.
  out[out.length - 1] ^= 1;
  expect(ccmOpen(ctx, rk, nonce, 0, aad, 0, aad.length, out, 0, msg.length, out, msg.length, v.tagLen, back, 0)).toBe(false);
  expect(back.every((b) => b === 0)).toBe(true);
}

describe('AES-CCM, RFC 3610 §8 packet vectors', () => {
  it('has all 24 vectors', () => expect(RFC3610.length).toBe(24));
  for (const v of RFC3610) it(`Packet Vector ${v.name} (M = ${v.tagLen})`, () => check(v));
});

describe('CCM*, IEEE 802.15.4-2006 Annex C.2', () => {
  for (const v of IEEE802154) it(v.name, () => check(v));
});

describe('CCM parameter rules', () => {
  it('allows exactly the even tag lengths 4..16', () => {
    const ok = [];
    for (let t = -1; t <= 18; t++) if (ccmTagLenOk(t)) ok.push(t);
    expect(ok).toEqual([4, 6, 8, 10, 12, 14, 16]);
    expect(ccmTagLenOk(8.5)).toBe(false);
  });

  it('seal throws on caller bugs; open returns false on hostile lengths without throwing', () => {
    expandKey(hexToBytes(KA), 0, rk);
    const n = new Uint8Array(13);
    const buf = new Uint8Array(40);
    expect(() => ccmSeal(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, 3, buf, 0)).toThrow();
    expect(() => ccmSeal(ctx, rk, n, 1, buf, 0, 0, buf, 0, 16, 8, buf, 0)).toThrow();
    expect(() => ccmSeal(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, 8, buf, 20)).toThrow();
    buf.fill(7);
    // Tag region past the end of the buffer: refused, output zeroed.
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, buf, 36, 8, buf, 0)).toBe(false);
    expect(buf.subarray(0, 16).every((b) => b === 0)).toBe(true);
    expect(buf[16]).toBe(7);
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, buf, 16, 5, buf, 0)).toBe(false);
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, -1, buf, 0, 16, buf, 16, 8, buf, 0)).toBe(false);
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, 0, buf, 0, 41, buf, 16, 8, buf, 0)).toBe(false);
  });
});
