/**
 * Flashing a meter onto an Espruino board in one step (`vakt flash`): check that the board is the
 * one named, stop what it runs, write the provisioning image to Storage file `prov` and the
 * firmware to `.bootcde`, read both back and compare byte for byte, then start the firmware.
 *
 * A board that already holds another meter's records is refused unless the caller asks to wipe
 * them: a meter that kept its counters but got new keys, or new counters under its old keys, would
 * mix two meters' state (and counters restarting under one key is nonce reuse). Re-flashing the
 * same image keeps every record, so a firmware update never resets the meter's counters.
 */
import type { BoardProfile } from '@vakt/boards';
import { FlashError, type BoardEnv, type BoardSession } from './espruino-tools.ts';

/** Storage file the meter reads its provisioning image from (firmware/src/common/records.ts REC_PROV). */
export const PROV_FILE = 'prov';
/** Storage file Espruino runs at boot. */
export const BOOT_FILE = '.bootcde';
/** The meter's own records: A/B slots `<name>~0` / `<name>~1` (boards/src/common/record.ts). */
export const RECORD_SLOTS = /~[01]$/;
/** Oldest Espruino firmware the bundles are checked against (engine-features: measured on 2v2x). */
const MIN_VERSION = 2.2;

/** process.env.BOARD values of each Espruino profile's official firmware. */
const BOARD_IDS: Record<string, RegExp> = {
  puckjs: /^PUCKJS/,
  'espruino-pico': /^PICO/,
};

/** Which firmware file to flash, once the board has said whether it has native AES. */
export interface FirmwareChoice {
  /** Deliverable with the software AES (undefined: the board's profile requires native AES). */
  soft?: { file: string; text: string };
  /** Deliverable without the software AES (needs require("crypto").AES). */
  native?: { file: string; text: string };
}

export interface FlashOptions {
  profile: BoardProfile;
  image: Uint8Array;
  firmware: FirmwareChoice;
  /** process.env.BOARD to accept instead of the profile's (a custom build of Espruino). */
  expectBoard?: string;
  /** Erase another meter's records found on the board. */
  wipe: boolean;
  /** Run the firmware after writing it (load()). */
  start: boolean;
  /** Called with bytes written so far and the total, and the file being written. */
  progress(done: number, total: number, file: string): void;
}

export interface FlashResult {
  board: string;
  version: string;
  firmware: string;
  nativeAes: boolean;
  /** `written`: the image was uploaded; `kept`: the board already held exactly this image (records kept). */
  prov: 'written' | 'kept';
  /** Record files erased because they belonged to another provisioning (--wipe). */
  wiped: string[];
  bytesWritten: number;
  /** Every file written was read back and found identical. */
  verified: boolean;
  started: boolean;
}

const bin = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Runs the whole flash on an open session; every failure is a FlashError with one plain line. */
export async function flashMeter(s: BoardSession, o: FlashOptions): Promise<FlashResult> {
  const env = await s.env();
  checkBoard(env, o);
  // Everything is read and decided before anything changes: a refusal leaves the board as it was.
  const hasAes = await s.evaluate<boolean>(
    '(function(){try{return typeof require("crypto").AES.encrypt=="function"}catch(e){return false}})()',
  );
  const fw = hasAes && o.firmware.native ? o.firmware.native : o.firmware.soft;
  if (fw === undefined) {
    throw new FlashError(
      `this ${env.BOARD} firmware has no require("crypto").AES, which the ${o.profile.name} meter build needs: install Espruino's official ${env.BOARD} firmware`,
    );
  }

  const prov = bin(o.image);
  const onBoard = await s.readBack(PROV_FILE);
  const records = await s.evaluate<string[]>(`require("Storage").list(${RECORD_SLOTS.toString()})`);
  if (!Array.isArray(records)) throw new FlashError('the board answered the Storage listing with something that is not a list');
  const same = onBoard === prov;
  let wiped: string[] = [];
  if (!same && (onBoard !== undefined || records.length > 0)) {
    if (!o.wipe) {
      throw new FlashError(
        `the board holds ${onBoard !== undefined ? 'another provisioning image' : 'no image but'} and ${records.length} record file(s) of a meter: ` +
          `flashing this image over them would mix two meters' keys and counters. Run again with --wipe to erase them (that meter's state is lost)`,
      );
    }
    wiped = [...records, ...(onBoard !== undefined ? [PROV_FILE] : [])];
  }
  // Stop the running firmware: its records and .bootcde are about to change under it.
  await s.run('reset()');
  for (const f of wiped) await s.run(`require("Storage").erase(${JSON.stringify(f)})`);

  const writes: { name: string; data: string }[] = [...(same ? [] : [{ name: PROV_FILE, data: prov }]), { name: BOOT_FILE, data: fw.text }];
  const total = writes.reduce((a, w) => a + w.data.length, 0);
  let before = 0;
  for (const w of writes) {
    o.progress(before, total, w.name);
    await s.upload(w.name, w.data, (n) => o.progress(before + n, total, w.name));
    before += w.data.length;
  }
  for (const w of writes) {
    const back = await s.readBack(w.name);
    if (back !== w.data) throw new FlashError(readBackFailure(w.name, w.data, back));
  }
  if (o.start) await s.run('load()');
  return {
    board: String(env.BOARD),
    version: String(env.VERSION ?? '?'),
    firmware: fw.file,
    nativeAes: fw === o.firmware.native,
    prov: same ? 'kept' : 'written',
    wiped,
    bytesWritten: total,
    verified: true,
    started: o.start,
  };
}

function checkBoard(env: BoardEnv, o: FlashOptions): void {
  const id = String(env.BOARD);
  const ok = o.expectBoard !== undefined ? id === o.expectBoard : (BOARD_IDS[o.profile.name]?.test(id) ?? false);
  if (!ok) {
    const hint = o.expectBoard !== undefined ? '' : ` (for a custom Espruino build, add --expect-board ${id})`;
    throw new FlashError(`wrong board: this is a ${id} (Espruino ${String(env.VERSION)}), not a ${o.profile.description}${hint}`);
  }
  const v = parseFloat(String(env.VERSION).replace('v', '.'));
  if (!(v >= MIN_VERSION))
    throw new FlashError(`Espruino ${String(env.VERSION)} is too old for this firmware: update the board to 2v20 or later`);
}

function readBackFailure(name: string, sent: string, back: string | undefined): string {
  if (back === undefined)
    return `read-back check failed: ${name} is not on the board after writing it; nothing was started, run vakt flash again`;
  let i = 0;
  while (i < sent.length && i < back.length && sent.charCodeAt(i) === back.charCodeAt(i)) i++;
  return `read-back check failed: ${name} on the board differs from what was sent at byte ${i} of ${sent.length} (read ${back.length} bytes); nothing was started, run vakt flash again`;
}
