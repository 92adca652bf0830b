// Console views. Each render* returns a DOM node built with el(): text only ever goes in as
// textContent, so a meter id, a user name or an audit detail can never become markup.
import { api, may, mayCommand, toast } from './app.js';

const HEX16 = /^[0-9a-f]{16}$/;
const CHART_HEIGHT = 260;

/** el('td', { class: 'num', onclick: fn }, 'text', childNode, ...): attributes, handlers, text children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const time = (ms) => (ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));
const badge = (s) =>
  el(
    'span',
    {
      class: `status status-${String(s)
        .toLowerCase()
        .replace(/[^a-z]+/g, '-')}`,
    },
    s,
  );

function table(id, header, rows, numeric = []) {
  return el(
    'table',
    { id },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        header.map((h) => el('th', {}, h)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.map((r) =>
        el(
          'tr',
          {},
          r.map((c, i) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', { class: numeric.includes(i) ? 'num' : undefined }, c))),
        ),
      ),
    ),
  );
}

async function command(meter, body, what) {
  try {
    const r = await api('POST', '/api/commands', { meter, ...body });
    toast(`${what}: command ${r.id} queued`);
    return r;
  } catch (e) {
    toast(`${what} refused: ${e.message}`);
    return null;
  }
}

export async function renderMeters() {
  const { meters } = await api('GET', '/api/meters');
  return el(
    'div',
    { class: 'card' },
    el('h2', {}, `Meters (${meters.length})`),
    table(
      'meters',
      ['meter', 'concentrator', 'status', 'readings', 'last interval', 'key generation', 'last reading'],
      meters.map((m) => [
        el('td', { class: 'mono' }, el('a', { href: `#/meter/${m.id}` }, m.id)),
        el('td', { class: 'mono' }, m.concentrator),
        el('td', { 'data-status': m.status }, badge(m.status)),
        m.readings,
        m.maxSeq,
        m.keyGen,
        time(m.lastSeenMs),
      ]),
      [3, 4, 5],
    ),
  );
}

/** A uPlot chart; kept on window.vaktCharts[name] so tests (and curious users) can read its data. */
function chart(name, title, xs, series) {
  const box = el('div', { class: 'card', id: `chart-${name}` }, el('h2', {}, title));
  if (xs.length === 0) {
    box.append(el('p', { class: 'empty' }, 'no data stored yet'));
    return box;
  }
  const opts = {
    width: 560,
    height: CHART_HEIGHT,
    scales: { x: { time: true } },
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: ['#1f5fa8', '#b3261e'][i], width: 2, scale: s.scale }))],
    axes: [
      {},
      { scale: series[0].scale, label: series[0].label },
      ...(series[1] ? [{ scale: series[1].scale, side: 1, label: series[1].label, grid: { show: false } }] : []),
    ],
  };
  window.vaktCharts = window.vaktCharts || {};
  queueMicrotask(() => {
    window.vaktCharts[name] = new window.uPlot(opts, [xs, ...series.map((s) => s.values)], box);
  });
  return box;
}

function commandRows(commands, after) {
  return table(
    'commands',
    ['id', 'meter', 'kind', 'state', 'by', 'tries', 'result', ''],
    commands.map((c) => [
      c.id,
      el('td', { class: 'mono' }, c.meter),
      c.kind,
      el('td', { 'data-command': c.id, 'data-state': c.state }, badge(c.state)),
      c.actor,
      c.attempts,
      el('td', { class: 'detail' }, c.result === null ? '' : JSON.stringify(c.result)),
      el(
        'td',
        {},
        (c.state === 'queued' || c.state === 'sent') && mayCommand(c.kind)
          ? el(
              'button',
              {
                class: 'secondary',
                'data-cancel': c.id,
                onclick: async () => {
                  try {
                    await api('POST', `/api/commands/${c.id}/cancel`);
                    toast(`command ${c.id} cancelled`);
                    after();
                  } catch (e) {
                    toast(e.message);
                  }
                },
              },
              'Cancel',
            )
          : '',
      ),
    ]),
    [0, 5],
  );
}

export async function renderMeter(id, first) {
  if (!HEX16.test(id)) return el('p', { class: 'error' }, 'not a meter id');
  const cmds = await api('GET', `/api/commands?meter=${id}&limit=20`);
  const refreshCommands = async () => {
    const c = await api('GET', `/api/commands?meter=${id}&limit=20`);
    document.getElementById('commands')?.replaceWith(commandRows(c.commands, refreshCommands));
  };
  if (!first) {
    await refreshCommands();
    return undefined;
  }
  const [lp, rr, meters] = await Promise.all([
    api('GET', `/api/meters/${id}/load-profile?limit=5000`),
    api('GET', `/api/meters/${id}/readings?limit=5000`),
    api('GET', '/api/meters'),
  ]);
  const m = meters.meters.find((x) => x.id === id);
  const act = (kind, label, body, cls) =>
    mayCommand(kind)
      ? el(
          'button',
          {
            'data-action': label.toLowerCase().replace(/ /g, '-'),
            class: cls,
            onclick: async () => {
              if (cls === 'danger' && !confirm(`${label} meter ${id}?`)) return;
              if (await command(id, { kind, ...body }, label)) await refreshCommands();
            },
          },
          label,
        )
      : null;
  const actions = [
    act('read', 'Read register', {}),
    act('clock', 'Sync clock', {}),
    act('relay', 'Disconnect', { state: 0 }, 'danger'),
    act('relay', 'Reconnect', { state: 1 }),
    act('key_update', 'Key update', { scope: 0 }),
  ].filter((x) => x !== null);
  return el(
    'div',
    {},
    el(
      'div',
      { class: 'card' },
      el('h2', {}, 'Meter ', el('span', { class: 'mono' }, id), ' ', m ? badge(m.status) : ''),
      el('p', {}, m ? `concentrator ${m.concentrator} · ${m.readings} intervals stored · key generation ${m.keyGen}` : 'unknown meter'),
      el(
        'div',
        { class: 'actions', id: 'meter-actions' },
        actions.length > 0 ? actions : el('span', { class: 'muted' }, 'your role can only view this meter'),
      ),
      el('a', { href: `/api/meters/${id}/load-profile?format=csv&limit=5000`, download: `load-profile-${id}.csv` }, 'load profile as CSV'),
      ' · ',
      el('a', { href: `#/events?subject=${id}` }, 'security events of this meter'),
    ),
    el(
      'div',
      { class: 'charts' },
      chart(
        'loadProfile',
        'Load profile',
        lp.points.map((p) => p.t),
        [
          { label: 'W', scale: 'W', values: lp.points.map((p) => p.w) },
          { label: 'Wh', scale: 'Wh', values: lp.points.map((p) => p.wh) },
        ],
      ),
      chart(
        'readings',
        'Register reads',
        rr.readings.map((r) => r.t),
        [{ label: 'Wh', scale: 'Wh', values: rr.readings.map((r) => r.wh) }],
      ),
    ),
    el('div', { class: 'card' }, el('h2', {}, 'Commands'), commandRows(cmds.commands, refreshCommands)),
  );
}

export async function renderConcentrators() {
  const { concentrators } = await api('GET', '/api/concentrators');
  return el(
    'div',
    { class: 'card' },
    el('h2', {}, 'Concentrators'),
    table(
      'concentrators',
      ['concentrator', 'status', 'meters', 'last relayed reading', 'security refusals'],
      concentrators.map((c) => [
        el('td', { class: 'mono' }, c.id),
        badge(c.status),
        c.meters,
        time(c.lastSeenMs),
        el('td', { class: 'num' }, el('a', { href: `#/events?subject=${c.id}` }, String(c.refusals))),
      ]),
      [2],
    ),
  );
}

function detailText(d) {
  try {
    const o = JSON.parse(d);
    return (
      o.message ??
      Object.entries(o)
        .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
        .join(', ')
    );
  } catch {
    return d;
  }
}

export async function renderEvents() {
  const subject = new URLSearchParams(location.hash.split('?')[1] ?? '').get('subject');
  const q = subject !== null && HEX16.test(subject) ? `&subject=${subject}` : '';
  const [{ events }, meterEvents] = await Promise.all([
    api('GET', `/api/security-events?limit=200${q}`),
    api('GET', '/api/events?limit=50'),
  ]);
  return el(
    'div',
    {},
    el(
      'div',
      { class: 'card' },
      el('h2', {}, `Security events${q ? ' of ' + subject : ''} (newest first)`),
      el(
        'ol',
        { class: 'timeline', id: 'timeline' },
        events.map((e) =>
          el(
            'li',
            { class: e.action.startsWith('auth.') || e.action === 'policy.denied' ? 'auth' : 'sec', 'data-action': e.action },
            el('strong', {}, e.action),
            ' ',
            el('span', { class: 'mono' }, e.subject),
            ' · ',
            time(e.tsMs),
            ' · ',
            e.actor,
            el('div', { class: 'detail' }, detailText(e.detail)),
          ),
        ),
      ),
    ),
    el(
      'div',
      { class: 'card' },
      el('h2', {}, 'Events reported by meters'),
      table(
        'meter-events',
        ['meter', 'code', 'meter time', 'detail', 'received'],
        meterEvents.events.map((e) => [el('td', { class: 'mono' }, e.meter), e.code, time(e.t * 1000), e.detail ?? '', time(e.receivedMs)]),
        [1],
      ),
    ),
  );
}

function campaignForm(firmware, after) {
  const kind = el(
    'select',
    { class: 'field', name: 'kind' },
    el('option', { value: 'key_update' }, 'key update (all keys)'),
    ...(firmware.length > 0 ? [el('option', { value: 'firmware' }, 'firmware')] : []),
  );
  const image = el(
    'select',
    { class: 'field', name: 'sha256', hidden: true },
    firmware.map((f) => el('option', { value: f.sha256 }, `v${f.version} · ${f.size} B · ${f.sha256.slice(0, 12)}…`)),
  );
  kind.addEventListener('change', () => {
    image.hidden = kind.value !== 'firmware';
  });
  const meters = el('input', {
    class: 'field',
    name: 'meters',
    placeholder: 'meter ids, comma separated, or all',
    size: 48,
    maxlength: 20000,
  });
  const err = el('span', { class: 'error' });
  const go = el('button', { type: 'submit' }, 'Start campaign');
  return el(
    'form',
    {
      id: 'campaign-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = '';
        const list = meters.value.trim().toLowerCase();
        const ids = list === 'all' ? null : list.split(/[\s,]+/).filter((x) => x !== '');
        if (ids !== null && (ids.length === 0 || !ids.every((x) => HEX16.test(x)))) {
          err.textContent = 'meter ids are 16 hex digits, or all';
          return;
        }
        if (!may(kind.value)) {
          err.textContent = 'your role may not start this campaign';
          return;
        }
        try {
          const r = await api('POST', '/api/campaigns', {
            kind: kind.value,
            ...(ids === null ? { all: true } : { meters: ids }),
            ...(kind.value === 'firmware' ? { sha256: image.value } : { scope: 0 }),
          });
          toast(`campaign ${r.id}: ${r.commands.length} command(s) queued${r.skipped.length ? `, ${r.skipped.length} skipped` : ''}`);
          after();
        } catch (e) {
          err.textContent = e.message;
        }
      },
    },
    kind,
    image,
    meters,
    go,
    err,
  );
}

export async function renderCommands() {
  const [{ commands }, { campaigns, firmware }] = await Promise.all([api('GET', '/api/commands?limit=200'), api('GET', '/api/campaigns')]);
  const rerender = async () => document.getElementById('view').replaceChildren(await renderCommands());
  return el(
    'div',
    {},
    el(
      'div',
      { class: 'card' },
      el('h2', {}, 'Campaigns'),
      may('key_update') || may('firmware') ? campaignForm(firmware, rerender) : null,
      table(
        'campaigns',
        ['id', 'kind', 'by', 'started', 'meters', 'states', 'skipped'],
        campaigns.map((c) => [
          c.id,
          c.kind,
          c.actor,
          time(c.createdMs),
          c.meters,
          Object.entries(c.states)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
          c.skipped,
        ]),
        [0, 4, 6],
      ),
    ),
    el('div', { class: 'card' }, el('h2', {}, 'Commands'), commandRows(commands, rerender)),
  );
}

export async function renderAudit() {
  const { entries, head } = await api('GET', '/api/audit?from=1&limit=5000');
  const result = el('span', { id: 'verify-result' });
  const verify = el(
    'button',
    {
      id: 'verify',
      onclick: async () => {
        const r = await api('GET', '/api/audit/verify');
        result.textContent = r.ok ? `chain intact: ${r.entries} entries, head verified` : `AUDIT LOG ALTERED: ${r.error}`;
        result.className = r.ok ? 'status status-ok' : 'status status-failed';
      },
    },
    'Verify chain',
  );
  return el(
    'div',
    { class: 'card' },
    el('h2', {}, `Audit log (${entries.length} entries, head ${head.slice(0, 20)}…)`),
    el('div', { class: 'actions' }, verify, result),
    table(
      'audit',
      ['seq', 'time', 'actor', 'action', 'subject', 'detail'],
      entries
        .slice()
        .reverse()
        .map((e) => [
          e.seq,
          time(e.tsMs),
          e.actor,
          e.action,
          el('td', { class: 'mono' }, e.subject),
          el('td', { class: 'detail' }, e.detail),
        ]),
      [0],
    ),
  );
}

const USER_NAME = /^[a-z][a-z0-9._-]{0,31}$/;
const CONTROL = (t) => [...t].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** Operators (right users): add with a role and password, issue a token (shown once), revoke. */
export async function renderUsers() {
  const { users, tokens } = await api('GET', '/api/users');
  const rerender = async () => document.getElementById('view').replaceChildren(await renderUsers());
  const name = el('input', { class: 'field', name: 'name', placeholder: 'name (a-z 0-9 . _ -)', maxlength: 32 });
  const role = el(
    'select',
    { class: 'field', name: 'role' },
    ['viewer', 'operator', 'admin'].map((r) => el('option', { value: r }, r)),
  );
  const pw = el('input', {
    class: 'field',
    name: 'password',
    type: 'password',
    placeholder: 'password (10+ characters)',
    maxlength: 1024,
    autocomplete: 'new-password',
  });
  const err = el('span', { class: 'error', id: 'user-error' });
  const shown = el('p', { id: 'new-token', class: 'mono' });
  const add = el(
    'form',
    {
      id: 'user-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = '';
        if (!USER_NAME.test(name.value)) {
          err.textContent = 'a name is 1–32 of a-z 0-9 . _ - starting with a letter';
          return;
        }
        if (pw.value !== '' && (pw.value.length < 10 || CONTROL(pw.value))) {
          err.textContent = 'a password has at least 10 characters and no control characters';
          return;
        }
        try {
          await api('POST', '/api/users', { name: name.value, role: role.value, ...(pw.value !== '' ? { password: pw.value } : {}) });
          toast(`user ${name.value} is now ${role.value}`);
          await rerender();
        } catch (e) {
          err.textContent = e.message;
        }
      },
    },
    name,
    role,
    pw,
    el('button', { type: 'submit' }, 'Add or change user'),
    err,
  );
  const tokenFor = (u) =>
    el(
      'button',
      {
        class: 'secondary',
        'data-token-for': u,
        onclick: async () => {
          try {
            const t = await api('POST', `/api/users/${encodeURIComponent(u)}/tokens`, { days: 30, label: 'console' });
            shown.textContent = `token for ${u} (${t.role}, 30 days), shown once: ${t.token}`;
          } catch (e) {
            toast(e.message);
          }
        },
      },
      'New API token',
    );
  const revoke = (u) =>
    el(
      'button',
      {
        class: 'danger',
        'data-revoke': u,
        onclick: async () => {
          if (!confirm(`Revoke every token and session of ${u}?`)) return;
          try {
            const r = await api('POST', `/api/users/${encodeURIComponent(u)}/revoke`);
            toast(`${r.revoked} revoked`);
            await rerender();
          } catch (e) {
            toast(e.message);
          }
        },
      },
      'Revoke all',
    );
  return el(
    'div',
    {},
    el(
      'div',
      { class: 'card' },
      el('h2', {}, 'Operators'),
      add,
      shown,
      table(
        'users',
        ['user', 'role', 'password', 'API tokens', ''],
        users.map((u) => [u.name, u.role, u.password ? 'yes' : 'no', u.tokens, el('td', {}, tokenFor(u.name), revoke(u.name))]),
        [3],
      ),
    ),
    el(
      'div',
      { class: 'card' },
      el('h2', {}, 'Tokens'),
      table(
        'tokens',
        ['id', 'user', 'role', 'kind', 'label', 'expires', 'revoked', 'last used'],
        tokens.map((t) => [
          el('td', { class: 'mono' }, t.id),
          t.user,
          t.role,
          t.kind,
          t.label,
          time(t.expiresMs),
          time(t.revokedMs),
          time(t.lastUsedMs),
        ]),
      ),
    ),
  );
}
