/**
 * Self-contained HTML report: the tables of the text report plus the paper's two views drawn as
 * SVG — the interaction view (message sequence per phase, arrows marked by the protecting keys)
 * and the protection view (key hierarchy: which key derives, protects or transports which).
 */
import { show as showTerm, type Term } from './term.ts';
import type { Model, Msg } from './model.ts';
import type { Report } from './report.ts';
import { PROTECTION_STYLE, causalOrder, protectionOf, routeEdge, type Box, type Protection } from './views.ts';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The keys protecting a message, outermost first (symmetric keys, signing and encryption key pairs). */
export function protectingKeys(model: Model, t: Term): string[] {
  const out: string[] = [];
  const name = (k: Term): string => {
    const n = model.names.get(k) ?? showTerm(k, (u) => model.names.get(u));
    return n.replace(/@Meter\d+/g, '');
  };
  const walk = (u: Term): void => {
    if (['aead', 'senc', 'wrap', 'mac', 'penc', 'sign'].includes(u.name) && u.kind === 'fn') {
      const k = name(u.args[0]);
      if (!out.includes(k)) out.push(k);
      walk(u.args[1]);
      return;
    }
    if (u.kind === 'fn' && u.name !== 'kdf' && u.name !== 'hash') u.args.forEach(walk);
  };
  walk(t);
  return out;
}

const generic = (agent: string): string => agent.replace(/^Meter\d+$/, 'Meter');

/** Interaction view of one phase: lifelines per agent, one arrow per message (first meter instance only). */
export function interactionSvg(model: Model, phase: string): string {
  const agents = [...new Set(model.agents.map((a) => generic(a.name)))];
  const firstInstance = (m: Msg): boolean => ![m.from, m.to, ...m.via].some((a) => /^Meter[2-9]/.test(a)) && !/@.*Meter[2-9]/.test(m.id);
  const msgs = causalOrder(model.messages.filter((m) => m.phase === phase && firstInstance(m)));
  const colW = 190;
  const rowH = 30;
  const top = 50;
  const left = 40;
  const width = left * 2 + colW * (agents.length - 1) + 320;
  const height = top + rowH * (msgs.length + 1) + 36;
  const x = (a: string): number => left + 60 + colW * agents.indexOf(generic(a));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="seq" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="interaction view, ${esc(phase)} phase">`,
  );
  parts.push(
    '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>',
  );
  for (const a of agents) {
    parts.push(
      `<rect x="${x(a) - 45}" y="10" width="90" height="26" rx="4" fill="#e8eef7" stroke="#456"/><text x="${x(a)}" y="28" text-anchor="middle" class="agent">${esc(a)}</text>`,
    );
    parts.push(`<line x1="${x(a)}" y1="36" x2="${x(a)}" y2="${height - 10}" stroke="#99a" stroke-dasharray="4 3"/>`);
  }
  msgs.forEach((m, i) => {
    const y = top + rowH * (i + 1);
    const x1 = x(m.from);
    const x2 = x(m.to);
    const keys = protectingKeys(model, m.term);
    const prot = protectionOf(model, m);
    const st = PROTECTION_STYLE[prot];
    const label = keys.length ? keys.join(' › ') + (prot === 'mic' ? ' (MIC only)' : '') : st.label;
    const color = st.color;
    parts.push(
      `<line class="msg ${prot}" data-id="${esc(m.id)}" x1="${x1}" y1="${y}" x2="${x2 + (x2 > x1 ? -2 : 2)}" y2="${y}" stroke="${color}" stroke-width="1.8"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''} marker-end="url(#arr)"><title>${esc(m.id)}: ${esc(m.label)} — ${esc(st.label)}</title></line>`,
    );
    const mid = (x1 + x2) / 2;
    parts.push(`<text x="${mid}" y="${y - 5}" text-anchor="middle" class="mid">${esc(m.id.replace(/@Meter\d+/, ''))}</text>`);
    parts.push(`<text x="${Math.max(x1, x2) + 8}" y="${y + 4}" class="key" fill="${color}">${esc(label)}</text>`);
  });
  let lx = 20;
  for (const k of ['enc', 'mic', 'clear', 'private'] as Protection[]) {
    const st = PROTECTION_STYLE[k];
    parts.push(
      `<g class="legend"><line x1="${lx}" y1="${height - 10}" x2="${lx + 34}" y2="${height - 10}" stroke="${st.color}" stroke-width="1.8"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/><text x="${lx + 40}" y="${height - 6}">${esc(st.label)}</text></g>`,
    );
    lx += 60 + st.label.length * 6.2;
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Half sizes of a key box in the protection view. */
const NODE_HALF_W = 66;
const NODE_HALF_H = 14;

interface Edge {
  from: string;
  to: string;
  kind: 'derives' | 'protects' | 'authenticates';
}

/**
 * Protection view: keys as nodes (grouped by their `abstract` label, as the paper's one generic
 * operation key), KDF derivations and key transports as edges, layered from the roots.
 */
export function protectionSvg(model: Model): string {
  const nameOf = (t: Term): string => {
    const info = model.atoms.get(t.name === 'pk' || t.name === 'sk' ? t.args[0] : t);
    if (info) return info.abstract;
    return (model.names.get(t) ?? showTerm(t, (u) => model.names.get(u))).replace(/@Meter\d+/g, '');
  };
  const members = new Map<string, Set<string>>();
  const nodes = new Map<string, { label: string; kind: string }>();
  const edges: Edge[] = [];
  const addEdge = (e: Edge): void => {
    if (e.from !== e.to && !edges.some((x) => x.from === e.from && x.to === e.to && x.kind === e.kind)) edges.push(e);
  };
  for (const info of model.atoms.values()) {
    if (info.owner && /^Meter[2-9]/.test(info.owner)) continue;
    if (info.type !== 'symkey' && info.type !== 'keypair') continue;
    const n = nameOf(info.term);
    if (!members.has(n)) members.set(n, new Set());
    members.get(n)!.add(info.generic);
    nodes.set(n, { label: info.label ?? '', kind: info.type });
    if (info.derived && info.term.name === 'kdf') {
      const parent = info.term.args[0];
      const pInfo = model.atoms.get(parent);
      if (pInfo) addEdge({ from: nameOf(parent), to: n, kind: 'derives' });
    }
  }
  // a key protects another when the other travels inside a unit sealed under it
  const transports = (m: Msg): void => {
    const walk = (u: Term, outer: { key: string; kind: Edge['kind'] }[]): void => {
      const info = model.atoms.get(u);
      if (info && (info.type === 'symkey' || info.type === 'keypair') && !info.derived)
        for (const o of outer) addEdge({ from: o.key, to: nameOf(u), kind: o.kind });
      if (u.kind !== 'fn' || u.name === 'kdf' || u.name === 'hash' || u.name === 'pk' || u.name === 'sk') return;
      if (['aead', 'senc', 'wrap', 'penc', 'sign'].includes(u.name)) {
        // an encryption protects what it carries; a signature authenticates it (it hides nothing)
        const o = { key: nameOf(u.args[0]), kind: (u.name === 'sign' ? 'authenticates' : 'protects') as Edge['kind'] };
        u.args.slice(1).forEach((a) => walk(a, [...outer, o]));
        return;
      }
      u.args.forEach((a) => walk(a, outer));
    };
    walk(m.term, []);
  };
  model.messages.filter((m) => ![m.from, m.to].some((a) => /^Meter[2-9]/.test(a)) && !/@.*Meter[2-9]/.test(m.id)).forEach(transports);
  // layers: longest path from a root over the edges of a depth-first order (edges that close a
  // cycle — a key update feeding the next generation of the same key kind — are drawn but not ranked)
  const depth = new Map<string, number>();
  const names = [...nodes.keys()];
  const state = new Map<string, number>(); // 1 on stack, 2 done
  const dag: Edge[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    for (const e of edges.filter((x) => x.from === n)) {
      if (!nodes.has(e.to) || state.get(e.to) === 1) continue;
      dag.push(e);
      if (!state.has(e.to)) visit(e.to);
    }
    state.set(n, 2);
  };
  const roots = names
    .filter((n) => !edges.some((e) => e.to === n && e.kind === 'derives'))
    .sort((a, b) => edges.filter((e) => e.to === a).length - edges.filter((e) => e.to === b).length);
  for (const n of [...roots, ...names]) if (!state.has(n)) visit(n);
  for (const n of names) depth.set(n, 0);
  for (let i = 0; i < names.length; i++) for (const e of dag) depth.set(e.to, Math.max(depth.get(e.to)!, depth.get(e.from)! + 1));
  const layers: string[][] = [];
  for (const n of names) (layers[depth.get(n)!] ??= []).push(n);
  const colW = 146;
  const rowH = 84;
  const width = 1340;
  const perRow = Math.floor((width - 40) / colW);
  const pos = new Map<string, { x: number; y: number }>();
  // order each layer by the mean position of its parents so edges cross less; wrap wide layers
  let row = 0;
  layers.forEach((layer, d) => {
    if (!layer) return;
    const bary = (n: string): number => {
      const xs = edges.filter((e) => e.to === n && pos.has(e.from)).map((e) => pos.get(e.from)!.x);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : width / 2;
    };
    if (d > 0) layer.sort((a, b) => bary(a) - bary(b));
    for (let start = 0; start < layer.length; start += perRow) {
      const chunk = layer.slice(start, start + perRow);
      chunk.forEach((n, i) => pos.set(n, { x: 20 + (width - 40) * ((i + 0.5) / chunk.length), y: 40 + row * rowH }));
      row++;
    }
  });
  const height = row * rowH + 60;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="prot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="protection view">`,
  );
  parts.push(
    '<defs><marker id="arr2" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
  );
  const box = (n: string): Box => ({ ...pos.get(n)!, halfW: NODE_HALF_W, halfH: NODE_HALF_H });
  const EDGE_STYLE: Record<Edge['kind'], { col: string; dash: string }> = {
    derives: { col: '#555', dash: '' },
    protects: { col: '#b35900', dash: '6 4' },
    authenticates: { col: '#7d3c98', dash: '2 3' },
  };
  for (const e of edges) {
    if (!pos.has(e.from) || !pos.has(e.to)) continue;
    const others = [...nodes.keys()].filter((n) => n !== e.from && n !== e.to).map(box);
    const st = EDGE_STYLE[e.kind];
    parts.push(
      `<path class="edge ${e.kind}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" d="${routeEdge(box(e.from), box(e.to), others)}" fill="none" stroke="${st.col}" stroke-width="1.3"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''} marker-end="url(#arr2)"><title>${esc(e.from)} ${e.kind} ${esc(e.to)}</title></path>`,
    );
  }
  for (const [n, info] of nodes) {
    const p = pos.get(n)!;
    const fill = info.kind === 'keypair' ? '#fdebd0' : '#e8f4ea';
    const ms = [...(members.get(n) ?? [])];
    const label = ms.length > 1 ? `${n} ×${ms.length}` : n;
    parts.push(
      `<g class="node" data-name="${esc(n)}"><rect x="${p.x - NODE_HALF_W}" y="${p.y - NODE_HALF_H}" width="${2 * NODE_HALF_W}" height="${2 * NODE_HALF_H}" rx="6" fill="${fill}" stroke="#4a6"/><text x="${p.x}" y="${p.y + 5}" text-anchor="middle" class="node">${esc(label)}</text><title>${esc(ms.join(', '))}${info.label ? ': ' + esc(info.label) : ''}</title></g>`,
    );
  }
  parts.push(
    `<g class="legend"><line x1="20" y1="${height - 20}" x2="60" y2="${height - 20}" stroke="#555"/><text x="66" y="${height - 16}">derives (KDF)</text><line x1="180" y1="${height - 20}" x2="220" y2="${height - 20}" stroke="#b35900" stroke-dasharray="6 4"/><text x="226" y="${height - 16}">protects in transport (encryption)</text><line x1="440" y1="${height - 20}" x2="480" y2="${height - 20}" stroke="#7d3c98" stroke-dasharray="2 3"/><text x="486" y="${height - 16}">authenticates (signature)</text></g>`,
  );
  parts.push('</svg>');
  return parts.join('');
}

const STATUS_CLASS: Record<string, string> = {
  ok: 'ok',
  leaked: 'leak',
  forgeable: 'forge',
  unavailable: 'miss',
  none: 'none',
  held: 'ok',
  exposed: 'exp',
  public: 'pub',
};

/** The whole report page. */
export function renderHtml(r: Report, model: Model): string {
  const h: string[] = [];
  h.push('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>' + esc(`vakt analyze — ${r.model}`) + '</title><style>');
  h.push(`body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;font-size:13px}
th{background:#f3f3f3}.ok{background:#c8ecc8}.leak{background:#f5a3a3}.forge{background:#e0a3f0}.miss{background:#ffe08a}.none{color:#aaa}
.exp{background:#dde3ea}.pub{background:#eef5ee;color:#666}.holds{color:#17702a;font-weight:600}.fails{color:#b21f1f;font-weight:600}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #ccc}
.diff{background:#fff3c4}.mono{font-family:ui-monospace,monospace;font-size:12px}
svg text.agent{font-weight:600;font-size:13px}svg text.mid{font-size:11px;fill:#333}svg text.key{font-size:11px}svg text.node{font-size:12px}
svg .legend text{font-size:12px}.risk td{width:150px;height:46px;vertical-align:top;font-size:12px}.risk .ids{color:#444;font-size:11px}.avail{color:#555;font-style:italic}.acc{background:#d7f0d7}.unacc{background:#f8c9c9}
details{margin:2px 0}summary{cursor:pointer}`);
  h.push('</style></head><body>');
  h.push(`<h1>${esc(r.model)} — protocol analysis</h1>`);
  if (r.description) h.push(`<p>${esc(r.description)}</p>`);
  h.push(
    `<p>${r.stats.messages} messages, ${r.stats.agents} agents, ${r.stats.atoms} atoms, analysed in ${r.stats.ms} ms. Overall: <span class="${r.verdict}">${r.verdict === 'holds' ? 'every requirement holds' : 'some requirements fail'}</span>.</p>`,
  );

  h.push(
    '<h2>Table 1 — characteristics (abstracted as the paper)</h2><table id="table1"><tr><th>aspect</th><th>paper (Kamstrup)</th><th>this model</th><th>unabstracted</th></tr>',
  );
  for (const k of Object.keys(r.table1.paper) as (keyof Report['table1']['paper'])[]) {
    const diff = r.table1.paper[k] !== r.table1.vakt[k];
    h.push(
      `<tr${diff ? ' class="diff"' : ''}><td>${k}</td><td>${r.table1.paper[k]}</td><td>${r.table1.vakt[k]}</td><td>${r.table1.detailed[k]}</td></tr>`,
    );
  }
  h.push('</table>');

  h.push(
    '<h2>Requirement table (honest agents)</h2><p class="legend"><span class="ok">required and held</span><span class="leak">leaked (readable beyond the requirement)</span><span class="forge">forgeable (writable beyond the requirement)</span><span class="miss">required but unavailable</span><span class="none">— not required, not possible</span></p>',
  );
  h.push(
    '<table id="requirements"><tr><th rowspan="2">element</th>' +
      r.agents.map((a) => `<th colspan="2">${esc(a)}</th>`).join('') +
      '</tr><tr>' +
      r.agents.map(() => '<th>R</th><th>W</th>').join('') +
      '</tr>',
  );
  for (const row of r.requirements) {
    h.push(`<tr><td class="mono">${esc(row.element)}</td>`);
    for (const c of row.cells) {
      const rc = STATUS_CLASS[c.readStatus];
      const wc = STATUS_CLASS[c.writeStatus];
      h.push(
        `<td class="${rc}">${c.readReq ? 'R' : ''}${c.read ? '✔' : c.readReq ? '✘' : '—'}</td><td class="${wc}">${c.writeReq ? 'W' : ''}${c.write ? '✔' : c.writeReq ? '✘' : '—'}</td>`,
      );
    }
    h.push('</tr>');
  }
  h.push('</table>');

  h.push(
    '<h2>Attack models</h2><p class="legend"><span class="ok">held</span><span class="leak">leaked</span><span class="forge">forgeable</span><span class="exp">given by the attack model (compromised agent\'s own rights, leaked key)</span><span class="pub">public (no requirement)</span></p>',
  );
  h.push(
    '<table id="attacks"><tr><th>element</th>' +
      r.attacks.map((a) => `<th title="${esc(a.name)}">${esc(a.id)}<br><span class="${a.verdict}">${a.verdict}</span></th>`).join('') +
      '</tr>',
  );
  const els = r.attacks[0]?.elements.map((e) => e.element) ?? [];
  for (const el of els) {
    h.push(`<tr><td class="mono">${esc(el)}</td>`);
    for (const a of r.attacks) {
      const e = a.elements.find((x) => x.element === el)!;
      // read and write are separate verdicts: "public" says only that reading has no requirement
      const worst =
        e.read === 'leaked'
          ? 'leaked'
          : e.write === 'forgeable'
            ? 'forgeable'
            : e.read === 'exposed' || e.write === 'exposed'
              ? 'exposed'
              : e.read === 'public' && e.write === 'public'
                ? 'public'
                : 'held';
      const mark = (which: 'R' | 'W', v: string): string =>
        v === 'leaked' || v === 'forgeable'
          ? `${which} ✘`
          : v === 'exposed'
            ? `${which} given`
            : v === 'public'
              ? `${which} public`
              : `${which} ✔`;
      h.push(`<td class="${STATUS_CLASS[worst]}">${mark('R', e.read)} · ${mark('W', e.write)}</td>`);
    }
    h.push('</tr>');
  }
  h.push('</table><ul>');
  for (const a of r.attacks) {
    h.push(
      `<li><b>${esc(a.id)}</b> ${esc(a.name)} (likelihood ${a.likelihood}): <span class="${a.verdict}">${a.verdict}</span>${a.availability ? ` <span class="avail">for confidentiality, integrity, replay and agreement; ${esc(a.availability.statement)}</span>` : ''}${a.brokenProperties.some((p) => !a.findings.some((f) => f.subject === p)) ? ` <span class="fails">agreement broken by design: ${esc(a.brokenProperties.filter((p) => !a.findings.some((f) => f.subject === p)).join(', '))}</span>` : ''}`,
    );
    if (a.findings.length) {
      h.push('<ul>');
      for (const f of a.findings.slice(0, 30))
        h.push(
          `<li><details><summary>${esc(f.kind)}: ${esc(f.detail)}</summary><ol class="mono">${f.trace.steps.map((s) => `<li>${esc(s)}</li>`).join('')}</ol><p>messages used: ${esc(f.trace.messages.join(', '))}</p></details></li>`,
        );
      if (a.findings.length > 30) h.push(`<li>… ${a.findings.length - 30} more in --json</li>`);
      h.push('</ul>');
    }
    h.push('</li>');
  }
  h.push('</ul>');

  h.push('<h2>Protocol checks</h2><table id="checks"><tr><th>check</th><th>subject</th><th>verdict</th><th>detail</th></tr>');
  for (const c of r.checks)
    h.push(
      `<tr><td>${esc(c.kind)}</td><td class="mono">${esc(c.subject)}</td><td class="${c.verdict}">${c.verdict}</td><td>${esc(c.detail)}</td></tr>`,
    );
  const replays = r.attacks.flatMap((a) => a.findings.filter((f) => f.kind === 'replay'));
  h.push(
    `<tr><td>replay</td><td>all messages, every active attack model</td><td class="${replays.length ? 'fails' : 'holds'}">${replays.length ? 'fails' : 'holds'}</td><td>${
      replays.length
        ? esc(
            replays
              .map((f) => f.detail)
              .slice(0, 5)
              .join('; '),
          )
        : 'every accepted message carries a counter bound by its tag and checked atomically'
    }</td></tr>`,
  );
  h.push('</table>');

  h.push(
    `<h2>Correspondence properties</h2><p>Whenever the first event happens, the second happened before, for the same instance (n/a: a compromised agent at either end may do anything).</p><table id="properties"><tr><th>property</th><th>instance</th><th>honest run</th>${r.attacks.map((a) => `<th>${esc(a.id)}</th>`).join('')}</tr>`,
  );
  for (const p of r.properties)
    h.push(
      `<tr><td title="${esc(p.id)}">${esc(p.label)}</td><td>${esc(p.instance)}</td><td class="${p.design}">${p.design}</td>${p.attacks.map((x) => `<td class="${x.verdict === 'n/a' ? 'none' : x.verdict}">${x.verdict}</td>`).join('')}</tr>`,
    );
  h.push('</table>');

  h.push(
    `<h2>Catalogue of threats (${r.catalogue.length})</h2><table id="catalogue"><tr><th>id</th><th>threat</th><th>kind</th><th>subject</th><th>L</th><th>I</th><th>L×I</th><th>acceptable</th></tr>`,
  );
  for (const t of r.catalogue)
    h.push(
      `<tr><td>${t.id}</td><td>${esc(t.threat)}</td><td>${esc(t.kind)}</td><td class="mono">${esc(t.subject)}</td><td>${t.likelihood}</td><td>${t.impact}</td><td>${t.score}</td><td class="${t.acceptable ? 'acc' : 'unacc'}">${t.acceptable ? 'accept' : 'treat'}</td></tr>`,
    );
  h.push('</table>');

  h.push(
    `<h2>Risk matrix</h2><p>Acceptance criterion: ${r.risk.grid ? 'grid set in the model' : `likelihood × impact ≤ ${r.risk.maxScore}`}. Each cell groups its threats by attack model or protocol check: how many, and their ids in the catalogue.</p><table class="risk" id="risk"><tr><th>likelihood \\ impact</th>${r.risk.impactLabels.map((x, i) => `<th>${i + 1} ${esc(x)}</th>`).join('')}</tr>`,
  );
  for (let l = 5; l >= 1; l--) {
    h.push(`<tr><th>${l} ${esc(r.risk.likelihoodLabels[l - 1])}</th>`);
    for (let i = 1; i <= 5; i++) {
      const groups = r.risk.cells[l - 1][i - 1];
      const body = groups
        .map((g) => `<div class="cell"><b>${esc(g.label)} ×${g.ids.length}</b> <span class="ids">${esc(g.ids.join(', '))}</span></div>`)
        .join('');
      h.push(`<td class="${r.risk.acceptable[l - 1][i - 1] ? 'acc' : 'unacc'}">${body}</td>`);
    }
    h.push('</tr>');
  }
  h.push('</table>');

  h.push(
    '<h2>Interaction view</h2><p>Message sequence per phase (one generic meter). Each arrow is labelled with the keys protecting it, outermost first (link key › end-to-end key), and drawn by how its content travels: solid blue encrypted, dashed green MIC only (authenticated but readable: CLOCK, FIRMWARE, ACK bodies, LINK_ACK), grey private channel. Replies follow the message that triggers them.</p>',
  );
  for (const p of model.phases) h.push(`<h3>${esc(p)}</h3><div class="view">${interactionSvg(model, p)}</div>`);
  h.push(
    '<h2>Protection view</h2><p>Key hierarchy: which key derives (solid), protects in transport by encryption (dashed orange) or authenticates by signature (dotted purple) which. Keys of the same kind are grouped as in the paper (one generic operation key; hover for the members).</p>',
  );
  h.push(`<div class="view" style="overflow-x:auto">${protectionSvg(model)}</div>`);
  h.push('</body></html>');
  return h.join('\n');
}
