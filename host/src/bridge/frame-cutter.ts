// Both host-side line ends (ModemPort toward a radio modem, HesLink toward the HES) receive the
// firmware's wire bytes through the Board SerialPort `write()`, in arbitrary pieces, and queue whole
// frames: this cuts the stream at each 0x00 delimiter and keeps the unfinished tail between calls.

/** The wire frame delimiter (PROTOCOL.md §9). */
export const FRAME_DELIMITER = 0x00;

/** Cuts a byte stream into frames ending with 0x00; each frame is handed over exactly once, whole. */
export class FrameCutter {
  private partial: Uint8Array[] = [];
  private partialLen = 0;

  /** Feeds a piece of the stream; calls `onFrame` for every frame it completes (delimiter included). */
  push(data: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== FRAME_DELIMITER) continue;
      const tail = data.subarray(start, i + 1);
      let frame = tail;
      if (this.partialLen > 0) {
        frame = new Uint8Array(this.partialLen + tail.length);
        let o = 0;
        for (const p of this.partial) {
          frame.set(p, o);
          o += p.length;
        }
        frame.set(tail, o);
        this.partial = [];
        this.partialLen = 0;
      }
      onFrame(frame);
      start = i + 1;
    }
    if (start < data.length) {
      this.partial.push(data.slice(start));
      this.partialLen += data.length - start;
    }
  }
}
