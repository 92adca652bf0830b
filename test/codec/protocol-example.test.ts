// The worked examples of docs/PROTOCOL.md §9 and §10 are checked here against the committed wire
// vectors, our codecs and the test's independent references, so the document cannot drift.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Decoder } from 'cbor-x';
import { encodeSerialFrame, serialEncodedMaxLen, SerialDeframer } from '../../shared/src/serial.ts';
import { decodeValue, encodeValue } from '../../shared/src/cbor.ts';
import { hex, refCrc16, refSerialFrame, unhex } from './helpers.ts';

const root = path.resolve(__dirname, '../..');
const doc = fs.readFileSync(path.join(root, 'docs/PROTOCOL.md'), 'utf8');
const section9 = doc.slice(doc.indexOf('## 9.'), doc.indexOf('## 10.'));
const section10 = doc.slice(doc.indexOf('## 10.'), doc.indexOf('## 11.'));

function field(block: string, name: string): string {
  // A field runs from its label to the next label (or the end of the block); "|" marks are not bytes.
  const labels = ['frame', 'CRC16', 'on line'];
  const start = block.indexOf(name) + name.length;
  let end = block.length;
  for (const l of labels) {
    const i = block.indexOf('\n' + l, start);
    if (i >= 0 && i < end) end = i;
  }
  return block.slice(start, end).replace(/[|\s]/g, '');
}

describe('PROTOCOL.md worked examples', () => {
  it('§9: the serial form of the LINK_ACK vector is what the document shows', () => {
    const block = section9.slice(section9.indexOf('```\nframe') + 4, section9.lastIndexOf('```'));
    const frameHex = field(block, 'frame');
    const crcHex = field(block, 'CRC16');
    const lineHex = field(block, 'on line');
    const vectors = JSON.parse(fs.readFileSync(path.join(root, 'test/vectors/link.json'), 'utf8'));
    const v = vectors.frames.find((f: { name: string }) => f.name === 'LINK_ACK down concentrator -> meter');
    expect(frameHex).toBe(v.frame);
    const frame = unhex(frameHex);
    expect(refCrc16(frame).toString(16).padStart(4, '0')).toBe(crcHex);
    expect(hex(refSerialFrame(frame))).toBe(lineHex);
    const out = new Uint8Array(serialEncodedMaxLen(frame.length));
    const n = encodeSerialFrame(frame, 0, frame.length, out, 0);
    expect(hex(out.subarray(0, n))).toBe(lineHex);
    expect(section9).toContain(`${n} bytes go on the line`);
    const got: string[] = [];
    const d = new SerialDeframer(64, (b, o, l) => got.push(hex(b.subarray(o, o + l))));
    d.push(out, 0, n);
    expect(got).toEqual([frameHex]);
    // Its body is the CBOR the document names.
    expect(v.body).toBe('811a01020305');
    expect(decodeValue(unhex(v.body), 0, 6).value).toEqual([16909061]);
  });

  it('§10: the ACK example is the body of the e2e vector and what both CBOR codecs produce', () => {
    expect(section10).toContain('`[0, 1, 4242]` = `83 00 01 19 1092`');
    const vectors = JSON.parse(fs.readFileSync(path.join(root, 'test/vectors/e2e.json'), 'utf8'));
    const v = vectors.frames.find((f: { name: string }) => f.name === 'ACK down readings stored');
    expect(v.body).toBe('830001191092');
    const out = new Uint8Array(6);
    expect(encodeValue([0, 1, 4242], out, 0)).toBe(6);
    expect(hex(out)).toBe('830001191092');
    expect(new Decoder().decode(out)).toEqual([0, 1, 4242]);
  });
});
