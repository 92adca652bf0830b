// Vakt HES console: session, API client and hash routing. Views are in views.js. Nothing the
// server sends is put into the page as HTML: every text goes through textContent (views.js el()).
import { el, renderMeters, renderMeter, renderConcentrators, renderEvents, renderCommands, renderAudit, renderUsers } from './views.js';

const REFRESH_MS = 5000;
const LIVE = ['#/meters', '#/meter/', '#/concentrators', '#/events', '#/audit'];
const state = { session: null, timer: null };

function csrfToken() {
  const m = /(?:^|;\s*)vakt_csrf=([^;]+)/.exec(document.cookie);
  return m === null ? '' : decodeURIComponent(m[1]);
}

/** Calls the API; throws an Error with the server's plain message (and .status). */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken();
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (res.status === 401 && path !== '/api/login') showLogin();
  if (!res.ok) {
    const e = new Error(typeof data === 'object' && data !== null ? data.error : String(data));
    e.status = res.status;
    throw e;
  }
  return data;
}

export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = 'show';
  setTimeout(() => {
    t.className = '';
  }, 4000);
}

/** True when the logged-in role holds the right (buttons only; the server checks regardless). */
export function may(right) {
  return state.session !== null && state.session.rights.includes(right);
}

export function mayCommand(kind) {
  return state.session !== null && may(state.session.commandRights[kind]);
}

function showLogin() {
  state.session = null;
  clearInterval(state.timer);
  document.getElementById('login').hidden = false;
  document.getElementById('nav').hidden = true;
  document.getElementById('view').replaceChildren();
  document.getElementById('who').replaceChildren();
}

function showApp(session) {
  state.session = session;
  document.getElementById('login').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('nav-users').hidden = !may('users');
  const logout = el(
    'button',
    {
      id: 'logout',
      onclick: async () => {
        await api('POST', '/api/logout').catch(() => {});
        showLogin();
      },
    },
    'Log out',
  );
  document.getElementById('who').replaceChildren(el('span', { id: 'whoami' }, `${session.user} (${session.role})`), logout);
  route();
}

const ROUTES = [
  [/^#\/meters$/, () => renderMeters()],
  [/^#\/meter\/([0-9a-f]{16})$/, (m, first) => renderMeter(m[1], first)],
  [/^#\/concentrators$/, () => renderConcentrators()],
  [/^#\/events(?:\?subject=[0-9a-f]{16})?$/, () => renderEvents()],
  [/^#\/commands$/, () => renderCommands()],
  [/^#\/audit$/, () => renderAudit()],
  [/^#\/users$/, () => renderUsers()],
];

/** Renders the view the URL hash names, and refreshes it every REFRESH_MS (live meters, events). */
async function route() {
  if (state.session === null) return;
  const hash = location.hash === '' ? '#/meters' : location.hash;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', hash.startsWith(a.getAttribute('href')));
  const hit = ROUTES.map(([re, fn]) => [re.exec(hash), fn]).find(([m]) => m !== null);
  const view = document.getElementById('view');
  clearInterval(state.timer);
  const draw = async (first) => {
    try {
      const node = hit === undefined ? el('p', {}, 'No such page.') : await hit[1](hit[0], first);
      if (node !== undefined) view.replaceChildren(node);
    } catch (e) {
      if (e.status !== 401) view.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  };
  await draw(true);
  // Live pages refresh; a meter page refreshes only its commands; forms (campaigns) are left alone.
  if (hit !== undefined && LIVE.some((p) => hash.startsWith(p))) state.timer = setInterval(() => draw(false), REFRESH_MS);
}

document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const err = document.getElementById('login-error');
  err.textContent = '';
  const token = f.token.value.trim();
  if (token === '' && (f.user.value.trim() === '' || f.password.value === '')) {
    err.textContent = 'give user and password, or a one-time token';
    return;
  }
  try {
    const s = await api('POST', '/api/login', token !== '' ? { token } : { user: f.user.value.trim(), password: f.password.value });
    f.password.value = '';
    f.token.value = '';
    showApp(s);
  } catch (e) {
    err.textContent = e.message;
  }
});

// `vakt demo --console` prints the URL with a one-time token in the fragment (never sent to the
// server or written to its logs): log in with it once and drop it from the address bar.
function oneTimeLink() {
  const m = /^#token=(vakt_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/.exec(location.hash);
  if (m === null) return false;
  history.replaceState(null, '', location.pathname + '#/meters');
  api('POST', '/api/login', { token: m[1] }).then(showApp, (e) => {
    showLogin();
    document.getElementById('login-error').textContent = e.message;
  });
  return true;
}
window.addEventListener('hashchange', () => {
  if (!oneTimeLink()) route();
});
if (!oneTimeLink()) api('GET', '/api/session').then(showApp, () => showLogin());
