// A driver on a real serial port: the XBee driver over a socat PTY pair (no control lines needed),
// the far end a scripted module written here (AT answers, TX status, RX echo). Skipped without socat.
import { afterEach, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { findSocat, openPtyPair, type PtyPair } from '../../host/src/bridge/pty.ts';
import { openHostRadio, parsePins } from '../../host/src/modem/host-radio.ts';
import { encodeXBeeFrame, XBeeParser } from '../../host/src/modem/xbee.ts';
import { encodeSerialFrame, serialEncodedMaxLen } from '../../shared/src/serial.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIo } from '../../host/src/cli/io.ts';
import { main } from '../../host/src/cli/main.ts';
import { concentratorImage } from '../../host/src/kpe/image.ts';

const socat = findSocat() !== null;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A scripted XBee: stores AT registers (CH refused when `stubborn`), answers TX requests with status 0 and echoes the payload as RX. */
async function scriptedXBee(path: string, stubborn = false): Promise<void> {
  const port = new SerialPort({ path, baudRate: 115200 });
  await new Promise<void>((r) => port.once('open', () => r()));
  cleanup.push(() => new Promise((r) => port.close(() => r())));
  const regs: Record<string, number[]> = { CH: [0x0b], ID: [0x33, 0x32], PL: [4], NP: [0, 100] };
  const parser = new XBeeParser((d) => {
    if (d[0] === 0x08) {
      const name = String.fromCharCode(d[2]!, d[3]!);
      const param = [...d.subarray(4)];
      if (param.length > 0 && !(stubborn && name === 'CH')) regs[name] = param;
      port.write(
        Buffer.from(encodeXBeeFrame(Uint8Array.of(0x88, d[1]!, d[2]!, d[3]!, 0, ...(param.length > 0 ? [] : (regs[name] ?? []))))),
      );
    } else if (d[0] === 0x10) {
      port.write(Buffer.from(encodeXBeeFrame(Uint8Array.of(0x8b, d[1]!, 0xff, 0xfe, 0, 0, 0))));
      port.write(
        Buffer.from(encodeXBeeFrame(Uint8Array.of(0x90, 0, 0x13, 0xa2, 0, 0x40, 0x0a, 0x01, 0x27, 0xff, 0xfe, 2, ...d.subarray(14)))),
      );
    }
  });
  port.on('data', (b: Buffer) => parser.push(new Uint8Array(b)));
}

async function pty(): Promise<PtyPair> {
  const p = await openPtyPair();
  cleanup.push(() => p.close());
  return p;
}

describe.skipIf(!socat)('a modem driver on a serial port (socat PTY)', () => {
  it('configures an XBee, reads it back, and carries a fragmented frame both ways', async () => {
    const p = await pty();
    await scriptedXBee(p.b);
    const r = await openHostRadio({ kind: 'xbee', role: 'meter', path: p.a, band: 'lab', pins: '', shortAddr: Uint8Array.of(0, 1) });
    cleanup.push(() => r.close());
    expect(r.driver.maxPayload).toBe(100);
    const frame = Uint8Array.from({ length: 300 }, (_, i) => (i * 13) & 0xff);
    const w = new Uint8Array(serialEncodedMaxLen(frame.length));
    const wire = w.slice(0, encodeSerialFrame(frame, 0, frame.length, w, 0));
    const got: number[] = [];
    r.port.onData((c) => got.push(...c));
    r.port.write(wire);
    for (let i = 0; i < 100 && got.length < wire.length; i++) await new Promise((x) => setTimeout(x, 20));
    expect(got).toEqual([...wire]);
    expect(r.driver.stats.packetsSent).toBe(4);
    expect(r.driver.stats.txFailures).toBe(0);
  });

  it('a channel the module does not take is one plain error naming the port', async () => {
    const p = await pty();
    await scriptedXBee(p.b, true);
    await expect(
      openHostRadio({ kind: 'xbee', role: 'meter', path: p.a, band: 'lab', pins: '', shortAddr: Uint8Array.of(0, 1) }),
    ).rejects.toThrow(`XBee on ${p.a} did not accept channel (ATCH) 0x0c (reads back 0x0b)`);
  });
});

describe.skipIf(!socat)('vakt concentrator --radio', () => {
  /** A concentrator image (random test keys) in a fresh directory; runs the command for a second. */
  async function concentrator(path: string, extra: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const dir = mkdtempSync(join(tmpdir(), 'vakt-conc-radio-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'c.prov.cbor'),
      concentratorImage({ id: randomBytes(8), linkKey: randomBytes(16), linkGen: 0 }, randomBytes(8)),
    );
    const io = captureIo({ cwd: dir });
    // No HES listens on port 1: the concentrator runs, retrying the HES link, for --duration.
    const code = await main(
      ['concentrator', '--hes', '127.0.0.1:1', '--modem', path, '--image', 'c.prov.cbor', '--duration', '1', '--json', ...extra],
      io,
    );
    return { code, out: io.stdout, err: io.stderr };
  }

  it('runs the concentrator firmware on a configured, read-back modem driver', async () => {
    const p = await pty();
    await scriptedXBee(p.b);
    const r = await concentrator(p.a, ['--radio', 'xbee', '--band', 'lab']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out.join('\n')) as { modems: { path: string; txFailures: number; refusedBudget: number }[] };
    expect(summary.modems).toHaveLength(1);
    expect(summary.modems[0]).toMatchObject({ path: p.a, txFailures: 0, refusedBudget: 0 });
  });

  it('a modem that does not take its configuration stops it with that one line; --radio needs --band', async () => {
    const p = await pty();
    await scriptedXBee(p.b, true);
    const r = await concentrator(p.a, ['--radio', 'xbee', '--band', 'lab']);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`vakt concentrator: XBee on ${p.a} did not accept channel (ATCH) 0x0c (reads back 0x0b)`]);
    const u = await concentrator(p.a, ['--radio', 'xbee']);
    expect(u.code).toBe(2);
    expect(u.err.join(' ')).toContain('--radio needs --band');
  });
});

describe('pin mappings', () => {
  it('parses the profile form and refuses anything else', () => {
    expect(parsePins('m0=rts, m1=dtr,aux=!cts')).toEqual({ m0: 'rts', m1: 'dtr', aux: '!cts' });
    expect(() => parsePins('m0:rts')).toThrow('pin mapping "m0:rts" is not <pin>=<line>');
  });
});
