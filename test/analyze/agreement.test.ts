// Model ↔ code agreement: every frame type the core's policy allows and the firmware emits appears
// in Vakt's model with the same key, counter and associated data, and nothing in the model is
// missing from the code. Reads the real tables from @vakt/shared and @vakt/firmware.
import { describe, expect, it } from 'vitest';
import * as S from '@vakt/shared';
import { CONCENTRATOR_EMITS, METER_EMITS } from '@vakt/firmware';
import { loadModel, type FrameSpec } from '../../host/src/analyze/model.ts';
import type { Term } from '../../host/src/analyze/term.ts';
import { VAKT } from './helpers.ts';

const model = loadModel(VAKT);
const shared = S as unknown as Record<string, unknown>;
const ascii = (b: Uint8Array): string => String.fromCharCode(...b);
const constName = (t: Term): string => (t.kind === 'atom' && t.name.startsWith("'") ? t.name.slice(1, -1) : `<${t.name}>`);

type Key = `${number}/${number}/${number}`; // version/op/dir
/**
 * The code's layer of a model frame (wire v2, PROTOCOL.md §3): link frames under the meter's link
 * master key (LK_m) travel on the radio hop (LINK_VERSION), those under the concentrator's (LK_c) on
 * the backhaul (BACKHAUL_VERSION).
 */
function layerOf(f: { frame: FrameSpec; term: Term }): number {
  if (f.frame.layer === 'e2e') return S.E2E_VERSION;
  return unit(f.term).key.args[0].name.split('@')[0] === 'LK_m' ? S.LINK_VERSION : S.BACKHAUL_VERSION;
}
function codeOf(f: FrameSpec, version: number): { version: number; op: number; dir: number } {
  // link types are named as in PROTOCOL §7 (DATA, JOIN, LEAVE, LINK_ACK); constants carry a LINK_ prefix
  const op = shared[f.layer === 'e2e' ? `OP_${f.op}` : f.op.startsWith('LINK_') ? f.op : `LINK_${f.op}`];
  if (typeof op !== 'number') throw new Error(`model frame ${f.layer} ${f.op}: no such constant in @vakt/shared`);
  return { version, op, dir: f.dir === 'UP' ? S.DIR_UP : S.DIR_DOWN };
}
const keyOf = (c: { version: number; op: number; dir: number }): Key => `${c.version}/${c.op}/${c.dir}`;

/** The protected unit of a frame and its header, whatever the ENC flag. */
function unit(t: Term): { enc: number; key: Term; header: Term } {
  if (t.name === 'aead') return { enc: 1, key: t.args[0], header: t.args[2] };
  if (t.name === 'mac' && t.args[1].name === 'tuple') return { enc: 0, key: t.args[0], header: t.args[1].args[0] };
  throw new Error(`not a sealed frame: ${t.name}`);
}

describe('model ↔ @vakt/shared policy (PROTOCOL.md §3–§7)', () => {
  it('model frames are exactly the (layer, op, direction) pairs the policy tables allow', () => {
    const allowed = new Set<Key>();
    for (let op = 1; op <= S.OP_MAX; op++)
      for (const dir of [S.DIR_UP, S.DIR_DOWN]) if (S.policyAllows(S.E2E_VERSION, op, dir)) allowed.add(`${S.E2E_VERSION}/${op}/${dir}`);
    for (const v of [S.LINK_VERSION, S.BACKHAUL_VERSION]) {
      for (let op = 1; op <= S.LINK_MAX; op++)
        for (const dir of [S.DIR_UP, S.DIR_DOWN]) if (S.policyAllows(v, op, dir)) allowed.add(`${v}/${op}/${dir}`);
    }
    const modelled = new Set(model.frames.map((f) => keyOf(codeOf(f.frame, layerOf(f)))));
    expect([...modelled].filter((k) => !allowed.has(k))).toEqual([]); // nothing in the model the code refuses
    expect([...allowed].filter((k) => !modelled.has(k))).toEqual([]); // nothing the code allows is unmodelled
    expect(allowed.size).toBe(16 + 4 + 6); // e2e, radio hop (DATA, LINK_ACK both ways), backhaul
  });

  it.each(model.frames.map((f) => [f.let, f] as const))('%s: ENC flag, tag length, header fields and key match the policy', (_n, f) => {
    const c = codeOf(f.frame, layerOf(f));
    expect(S.policyAllows(c.version, c.op, c.dir)).toBe(true);
    expect(S.policyEnc(c.version, c.op)).toBe(f.frame.enc);
    expect(S.policyTagLen(c.version, c.op)).toBe(f.frame.tag);
    const u = unit(f.term);
    expect(u.enc).toBe(f.frame.enc); // aead ⇔ ENC=1, MIC over header‖body ⇔ ENC=0
    // the associated data is the whole header: version, direction, op, gen, sender, receiver, counter
    const h = u.header;
    expect(h.name).toBe(f.frame.layer === 'e2e' ? 'hdr' : 'lhdr');
    expect(h.args.length).toBe(7);
    expect(constName(h.args[0])).toBe(f.frame.layer);
    expect(constName(h.args[1])).toBe(f.frame.dir);
    expect(constName(h.args[2])).toBe(f.frame.op);
    const ctr = model.atoms.get(h.args[6]);
    expect(ctr?.type).toBe('counter');
    // the key is directional and derived with the labels of shared/src/kdf.ts
    const k = u.key;
    expect(k.name).toBe('kdf');
    const label = constName(k.args[1]);
    // contexts in the order of shared/src/keys.ts: an id first, then op / scope, direction, generation
    const ctx = k.args[2].args;
    const isId = (t: Term): boolean => model.agents.some((a) => a.name === t.name);
    const gen = h.args[3];
    if (f.frame.layer === 'link') {
      expect(label).toBe(ascii(S.LABEL_LINK)); // KL[dir, g] = KDF(LK, "vakt-link", deviceId ‖ dir ‖ g)
      expect(ctx.length).toBe(3);
      expect(isId(ctx[0])).toBe(true);
      expect(constName(ctx[1])).toBe(f.frame.dir);
      expect(ctx[2]).toBe(gen);
    } else if (label === ascii(S.LABEL_KC)) {
      expect(f.frame.op).toBe('KEY_UPDATE'); // CONFIRM is sealed under KC[scope, g] = KDF(new, "vakt-kc", meterId ‖ scope ‖ g)
      expect(f.frame.dir).toBe('UP');
      expect(ctx.length).toBe(3);
      expect(isId(ctx[0])).toBe(true);
      expect(ctx[2]).toBe(gen); // header gen = newGen (PROTOCOL §8)
    } else {
      expect(label).toBe(ascii(S.LABEL_E2E)); // K[op, dir, g] = KDF(OK[op, g], "vakt-e2e", meterId ‖ op ‖ dir ‖ g)
      expect(ctx.length).toBe(4);
      expect(isId(ctx[0])).toBe(true);
      expect(ctx.slice(1, 3).map(constName)).toEqual([f.frame.op, f.frame.dir]);
      expect(ctx[3]).toBe(gen);
      const root = k.args[0]; // OK[op, g] = KDF(MK, "vakt-op", meterId ‖ op ‖ g)
      expect(constName(root.args[1])).toBe(ascii(S.LABEL_OP));
      const rctx = root.args[2].args;
      expect(rctx.length).toBe(3);
      expect(rctx[0]).toBe(ctx[0]);
      expect(constName(rctx[1])).toBe(f.frame.op);
      expect(rctx[2]).toBe(gen);
    }
  });

  it('one key per (op, direction) end to end and per direction on a link (D-3); one counter per key (§6)', () => {
    const byKey = new Map<Term, Set<string>>();
    const ctrKeys = new Map<Term, Set<Term>>();
    for (const f of model.frames) {
      const u = unit(f.term);
      const id = f.frame.layer === 'link' ? `link/${f.frame.dir}` : `e2e/${f.frame.op}/${f.frame.dir}`;
      (byKey.get(u.key) ?? byKey.set(u.key, new Set()).get(u.key)!).add(id);
      const ctr = u.header.args[6];
      (ctrKeys.get(ctr) ?? ctrKeys.set(ctr, new Set()).get(ctr)!).add(u.key);
    }
    for (const [, uses] of byKey) expect(uses.size).toBe(1);
    for (const [, keys] of ctrKeys) expect(keys.size).toBe(1);
  });
});

describe('model ↔ firmware emitted frames (firmware/src/index.ts)', () => {
  const emitsOf = (agent: string, relayOnly: boolean): Set<Key> => {
    const out = new Set<Key>();
    for (const m of model.messages.filter((x) => x.from === agent)) {
      for (const f of m.frames) {
        // a relay re-wraps frames it received: only its own link frame is emitted by it
        if (relayOnly && f.frame.layer === 'e2e') continue;
        out.add(keyOf(codeOf(f.frame, layerOf(f))));
      }
    }
    return out;
  };
  const code = (list: { layer: number; op: number; dir: number }[]): Set<Key> =>
    new Set(list.map((e) => `${e.layer}/${e.op}/${e.dir}` as Key));
  it('the meter emits exactly what the model has it send (ACK UP answers ACTIVATE, PROTOCOL §8 step 4)', () => {
    const modelled = emitsOf('Meter1', false);
    const emitted = code(METER_EMITS);
    expect(emitted.has(`${S.E2E_VERSION}/${S.OP_ACK}/${S.DIR_UP}`)).toBe(true);
    expect([...emitted].filter((k) => !modelled.has(k))).toEqual([]);
    expect([...modelled].filter((k) => !emitted.has(k))).toEqual([]);
  });
  it('the concentrator emits exactly the link frames the model has it send, and no end-to-end frame (D-8)', () => {
    const modelled = emitsOf('Conc', true);
    const emitted = code(CONCENTRATOR_EMITS);
    expect([...emitted].filter((k) => !modelled.has(k))).toEqual([]);
    expect([...modelled].filter((k) => !emitted.has(k))).toEqual([]);
    expect(CONCENTRATOR_EMITS.every((e) => e.layer === S.LINK_VERSION || e.layer === S.BACKHAUL_VERSION)).toBe(true);
  });
});
