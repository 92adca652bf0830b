/**
 * Helpers of the report's two views: how a message's content travels (encrypted, MIC only, clear,
 * private channel), the causal order of a sequence diagram, and edge routing in the key hierarchy
 * that keeps every edge clear of the boxes it does not connect.
 */
import type { Term } from './term.ts';
import type { Model, Msg } from './model.ts';

export type Protection = 'enc' | 'mic' | 'clear' | 'private';
const ENCRYPTS = new Set(['aead', 'senc', 'wrap', 'penc']);
const RANK: Record<Protection, number> = { enc: 0, private: 0, mic: 1, clear: 2 };

/**
 * How a message's content travels: 'enc' when every datum and key in it is inside an encryption,
 * 'mic' when some of it is readable but authenticated (MAC or signature only), 'clear' when some of
 * it is neither, 'private' on a private (factory) channel. A frame with no datum at all (ACTIVATE,
 * LINK_ACK) is classed by its innermost seal.
 */
export function protectionOf(model: Model, m: Msg): Protection {
  if (m.links.length > 0 && m.links.every((l) => model.links.find((L) => L.name === l)?.private)) return 'private';
  let worst: Protection | undefined;
  const walk = (u: Term, enc: boolean, auth: boolean): void => {
    const info = model.atoms.get(u);
    if (info && (info.type === 'data' || info.type === 'symkey' || info.type === 'nonce')) {
      const here: Protection = enc ? 'enc' : auth ? 'mic' : 'clear';
      if (!worst || RANK[here] > RANK[worst]) worst = here;
      return;
    }
    if (u.kind !== 'fn' || u.name === 'kdf' || u.name === 'hash' || u.name === 'pk' || u.name === 'sk') return;
    if (ENCRYPTS.has(u.name)) {
      walk(u.args[1], true, auth);
      if (u.name === 'aead') walk(u.args[2], enc, true);
      return;
    }
    if (u.name === 'mac' || u.name === 'sign') return walk(u.args[1], enc, true);
    u.args.forEach((a) => walk(a, enc, auth));
  };
  walk(m.term, false, false);
  return worst ?? innermostSeal(m.term) ?? 'clear';
}

function innermostSeal(t: Term): Protection | undefined {
  if (t.kind !== 'fn') return undefined;
  const sealed = ENCRYPTS.has(t.name) || t.name === 'mac' || t.name === 'sign';
  const inner = (sealed ? [t.args[1]] : t.args).map(innermostSeal).find((x) => x !== undefined);
  if (inner) return inner;
  if (ENCRYPTS.has(t.name)) return 'enc';
  if (sealed) return 'mic';
  return undefined;
}

export const PROTECTION_STYLE: Record<Protection, { color: string; dash: string; label: string }> = {
  enc: { color: '#1f5fa8', dash: '', label: 'encrypted and authenticated' },
  mic: { color: '#1e8449', dash: '8 4', label: 'MIC only: authenticated, readable' },
  clear: { color: '#c0392b', dash: '2 3', label: 'unprotected' },
  private: { color: '#777', dash: '', label: 'private channel (factory)' },
};

/** Messages in causal order: each reply right after the message that triggers it. */
export function causalOrder(msgs: Msg[]): Msg[] {
  const ids = new Set(msgs.map((m) => m.id));
  const out: Msg[] = [];
  const placed = new Set<string>();
  const place = (m: Msg): void => {
    if (placed.has(m.id)) return;
    placed.add(m.id);
    out.push(m);
    for (const c of msgs) if (c.trigger === m.id) place(c);
  };
  for (const m of msgs) if (!m.trigger || !ids.has(m.trigger)) place(m);
  for (const m of msgs) place(m);
  return out;
}

export interface Box {
  x: number;
  y: number;
  halfW: number;
  halfH: number;
}
const CLEARANCE = 4;
const SAMPLES = 60;
const BEND_STEP = 55;
const MAX_BENDS = 8;

function hits(b: Box, px: number, py: number): boolean {
  return Math.abs(px - b.x) < b.halfW + CLEARANCE && Math.abs(py - b.y) < b.halfH + CLEARANCE;
}

/**
 * An SVG path from box a (bottom edge) to box b (top edge) that crosses no other box: straight when
 * it can, otherwise a quadratic curve bent further and further to either side until it is clear
 * (the least-crossing candidate if none is).
 */
export function routeEdge(a: Box, b: Box, others: Box[]): string {
  const x1 = a.x;
  const y1 = a.y + (b.y >= a.y ? a.halfH : -a.halfH);
  const x2 = b.x;
  const y2 = b.y + (b.y >= a.y ? -b.halfH - 2 : b.halfH + 2);
  const crossings = (cx: number, cy: number): number => {
    let n = 0;
    for (let i = 1; i < SAMPLES; i++) {
      const t = i / SAMPLES;
      const px = (1 - t) * (1 - t) * x1 + 2 * (1 - t) * t * cx + t * t * x2;
      const py = (1 - t) * (1 - t) * y1 + 2 * (1 - t) * t * cy + t * t * y2;
      if (others.some((o) => hits(o, px, py))) n++;
    }
    return n;
  };
  const mx = (x1 + x2) / 2;
  const my = (y1 + y2) / 2;
  let best = { cx: mx, cy: my, n: crossings(mx, my) };
  for (let k = 1; k <= MAX_BENDS && best.n > 0; k++) {
    for (const sign of [1, -1]) {
      const cx = mx + sign * k * BEND_STEP;
      const n = crossings(cx, my);
      if (n < best.n) best = { cx, cy: my, n };
      if (n === 0) break;
    }
  }
  return `M${x1.toFixed(1)},${y1.toFixed(1)} Q${best.cx.toFixed(1)},${best.cy.toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}`;
}
