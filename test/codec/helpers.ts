// Independent reference implementations and small utilities for the codec tests. Written from the
// published definitions, deliberately naive (bit by bit, whole-array), and sharing no code with
// shared/src so that agreement between the two means something.

/** Hex string (spaces allowed) to bytes. */
export function unhex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}

/** Bytes to lower-case hex. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/**
 * CRC-16/CCITT-FALSE straight from the Rocksoft model parameters in the CRC catalogue
 * (width=16 poly=0x1021 init=0xffff refin=false refout=false xorout=0x0000): one bit at a time.
 */
export function refCrc16(data: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const inBit = (byte >> bit) & 1;
      const top = (crc >> 15) & 1;
      crc = (crc << 1) & 0xffff;
      if (top ^ inBit) crc ^= 0x1021;
    }
  }
  return crc;
}

/**
 * COBS encoder after the description in Cheshire & Baker (1999): split the packet at every zero
 * into "zero-terminated chunks" (a virtual zero is appended), emit each chunk as length+1 and its
 * bytes, and break chunks longer than 254 into 0xFF blocks with no implied zero. A packet ending on
 * a full 0xFF block gets no extra block (the convention of the Wikipedia examples).
 */
export function refCobsEncode(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let block: number[] = [];
  const flush = (code: number) => {
    out.push(code, ...block);
    block = [];
  };
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) {
      flush(block.length + 1);
    } else {
      block.push(data[i]);
      if (block.length === 254) {
        flush(0xff);
        if (i === data.length - 1) return new Uint8Array(out);
      }
    }
  }
  flush(block.length + 1);
  return new Uint8Array(out);
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The serial wire form of PROTOCOL.md §9 built from the reference pieces: COBS(frame ‖ CRC BE) ‖ 0x00. */
export function refSerialFrame(frame: Uint8Array): Uint8Array {
  const c = refCrc16(frame);
  const withCrc = concat(frame, new Uint8Array([c >> 8, c & 0xff]));
  return concat(refCobsEncode(withCrc), new Uint8Array([0]));
}
