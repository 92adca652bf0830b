// XBee API mode 2 framing against an encoder written here from Digi's frame description, the
// cases client libraries got wrong (escaped length and checksum bytes, 0x7E in an address), the
// manual's example telegram, and the driver against the emulated module (ATNP, TX status 0x74).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeXBeeFrame, xbeeChecksum, XBeeParser, XBeeDriver } from '../../host/src/modem/xbee.ts';
import { findBand } from '../../host/src/modem/airtime.ts';
import { RadioChannel } from '../../host/src/modem/emu/channel.ts';
import { EmuXBee } from '../../host/src/modem/emu/modules.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';

/** Independent API-2 encoder: length and checksum over the unescaped data, then escape everything after 0x7E. */
function refEncode(data: number[]): number[] {
  const sum = data.reduce((a, b) => a + b, 0);
  const body = [(data.length >>> 8) & 0xff, data.length & 0xff, ...data, 0xff - (sum % 256)];
  const out = [0x7e];
  for (const b of body) {
    if (b === 0x7e || b === 0x7d || b === 0x11 || b === 0x13) out.push(0x7d, b ^ 0x20);
    else out.push(b);
  }
  return out;
}

function parseAll(chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const p = new XBeeParser((d) => out.push(d));
  for (const c of chunks) p.push(c);
  return out;
}

describe('XBee API mode 2 framing', () => {
  it('encodes like the independent encoder and parses back in any chunking', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
        (data, cuts) => {
          const enc = encodeXBeeFrame(data);
          expect([...enc]).toEqual(refEncode([...data]));
          const chunks: Uint8Array[] = [];
          for (let o = 0, i = 0; o < enc.length; i++) {
            const n = cuts[i % cuts.length]!;
            chunks.push(enc.subarray(o, o + n));
            o += n;
          }
          expect(parseAll(chunks)).toEqual([data]);
        },
      ),
    );
  });

  it('escapes a length byte, a checksum byte and 0x7E inside an address', () => {
    // 17 (0x11) data bytes: the length's low byte must travel as 7D 31.
    const len17 = encodeXBeeFrame(new Uint8Array(17).fill(1));
    expect([...len17.subarray(0, 4)]).toEqual([0x7e, 0x00, 0x7d, 0x31]);
    // data whose checksum is 0x13: 0xff - 0xec.
    const ck = Uint8Array.of(0xec);
    expect(xbeeChecksum(ck)).toBe(0x13);
    expect([...encodeXBeeFrame(ck).slice(-2)]).toEqual([0x7d, 0x33]);
    // 0x7E inside a 64-bit address.
    const addr = Uint8Array.of(0x10, 1, 0, 0x13, 0xa2, 0, 0x7e, 0x0a, 1, 0x27, 0xff, 0xfe, 0, 0, 0x41);
    expect(parseAll([encodeXBeeFrame(addr)])).toEqual([addr]);
    expect([...encodeXBeeFrame(addr)].filter((b) => b === 0x7e)).toHaveLength(1);
  });

  it("decodes the manual's Transmit Request example (test telegram in xbee.ts)", () => {
    const tel = '7E 00 16 10 01 00 13 A2 00 40 0A 01 27 FF FE 00 00 54 78 44 61 74 61 30 41 13'.split(' ').map((h) => parseInt(h, 16));
    const data = Uint8Array.from(tel.slice(3, -1));
    expect(xbeeChecksum(data)).toBe(tel[tel.length - 1]);
    expect(new TextDecoder().decode(data.subarray(14))).toBe('TxData0A');
    // In API mode 2 the 0x13 of the address and the checksum 0x13 are escaped.
    const esc = encodeXBeeFrame(data);
    expect([...esc.subarray(5, 8)]).toEqual([0x00, 0x7d, 0x33]);
    expect([...esc.slice(-2)]).toEqual([0x7d, 0x33]);
    expect(parseAll([esc])).toEqual([data]);
  });

  it('drops frames with a bad checksum or a lost byte and resynchronises on the next 0x7E', () => {
    const a = encodeXBeeFrame(Uint8Array.of(0x90, 1, 2, 3));
    const bad = a.slice();
    bad[bad.length - 1] ^= 1;
    const cut = a.slice(0, a.length - 2);
    const b = encodeXBeeFrame(Uint8Array.of(0x90, 4, 5));
    const p = new XBeeParser(() => undefined);
    const got = parseAll([bad, cut, b]);
    expect(got).toEqual([Uint8Array.of(0x90, 4, 5)]);
    p.push(bad);
    expect(p.bad).toBe(1);
  });
});

describe('XBee driver on the emulated module', () => {
  function setup(stubborn?: 'channel') {
    const sched = new SimScheduler();
    const ch = new RadioChannel(sched, { seed: 1 });
    const mod = new EmuXBee(ch, stubborn ? { stubborn } : {});
    const d = new XBeeDriver(
      mod.uart,
      { channel: 0x0f, panId: 0x7e11, powerLevel: 2 },
      { name: '/dev/ttyUSB0', band: findBand('lab'), timers: sched },
    );
    return { sched, ch, mod, d };
  }

  it('writes CH/ID/PL, reads them back, takes the payload limit from ATNP', async () => {
    const { sched, mod, d } = setup();
    await sched.settle(d.start());
    expect(d.maxPayload).toBe(100);
    expect(mod.regs.get('CH')).toBe(0x0f);
    expect(mod.regs.get('ID')).toBe(0x7e11);
    expect(d.send(new Uint8Array(101))).toBe('oversize');
    expect(d.stats.refusedOversize).toBe(1);
  });

  it('a channel the module does not take is a plain error', async () => {
    const { sched, d } = setup('channel');
    await expect(sched.settle(d.start())).rejects.toThrow('XBee on /dev/ttyUSB0 did not accept channel (ATCH) 0x0f (reads back 0x0c)');
  });

  it('counts TX status 0x74 (payload too large) as a failure', async () => {
    const { sched, mod, d } = setup();
    await sched.settle(d.start());
    mod.regs.set('NP', 20); // the module's limit shrank (e.g. encryption enabled) after the driver read it
    d.send(new Uint8Array(50).fill(1));
    sched.runUntil(sched.now() + 1000);
    expect(d.stats.txFailures).toBe(1);
    expect(d.stats.packetsSent).toBe(1);
  });
});
