// sidecar's status page: GET /health/details, GET /events, the write API.
// Every string from sidecar reaches the DOM as text (textContent), never
// as markup: names, reasons and status texts are written by others.
'use strict';

const KEY = 'sidecar-token'; // sessionStorage: this tab only
const EVENTS_MAX = 50; // the list keeps the newest
const POLL_S = 3; // details while the event stream is open (uptimes)
const POLL_ALONE_S = 0.5; // without it: changes show within a second

const $ = (id) => document.getElementById(id);
let details = null;
let stream = null; // the EventSource, while it may deliver
let streamOpen = false;
let unreachable = false;
let pollTimer = 0;
let debounce = 0;
let fetching = false;
let again = false; // a refresh was asked for during a fetch
let lastId = 0; // of the newest event listed (ids grow in one process)
const shown = new Set(); // the ids of the listed events: none twice
let lastUptime = -1; // sidecar's, as details said last: less is a restart
let restartSaidAt = 0;
let retryTimer = 0; // asks for a refused stream again
const RETRY_STREAM_S = 30;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function token() {
  try {
    return sessionStorage.getItem(KEY) || '';
  } catch (e) {
    return '';
  }
}

function setToken(t) {
  try {
    if (t) sessionStorage.setItem(KEY, t);
    else sessionStorage.removeItem(KEY);
  } catch (e) {
    /* storage off: the token lives as long as the page */
  }
}

function canControl() {
  return !!(details && details.control && token());
}

function banner(text) {
  const b = $('banner');
  b.textContent = text || '';
  b.hidden = !text;
}

function answer(text, ok) {
  const a = $('answer');
  a.textContent = text;
  a.className = 'answer ' + (ok ? 'ok' : 'bad');
  a.hidden = false;
}

function duration(s) {
  if (s === null || s === undefined) return '–';
  s = Math.floor(s);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}

function when(iso) {
  if (!iso) return '–';
  const t = new Date(iso);
  return isNaN(t) ? String(iso) : t.toLocaleTimeString([], { hour12: false });
}

// A definition list of [label, value] pairs (null values left out).
function kv(pairs, dl) {
  dl = dl || el('dl', 'kv');
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === '') continue;
    const dd = el('dd', null, v);
    dd.dataset.k = k;
    dl.append(el('dt', null, k), dd);
  }
  return dl;
}

function badge(text, kind) {
  return el('span', 'badge ' + kind, text);
}

function stateKind(s) {
  if (['running', 'passing', 'completed', 'UP'].includes(s)) return 'good';
  if (['fatal', 'exited', 'failing', 'DOWN'].includes(s)) return 'bad';
  if (['unknown', 'waiting', 'stopped'].includes(s)) return 'idle';
  return 'warn';
}

function button(label, path, what) {
  const b = el('button', 'act', label);
  b.type = 'button';
  b.setAttribute('aria-label', what); // "restart web", not "restart"
  b.addEventListener('click', () => post(path, what, b));
  return b;
}

async function post(path, what, b) {
  const t = token();
  if (!t) return;
  if (b) b.disabled = true;
  let text = '';
  let status = 0;
  try {
    const r = await fetch(path, {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + t },
      cache: 'no-store',
    });
    status = r.status;
    text = await r.text();
  } catch (e) {
    answer(what + ': sidecar cannot be reached', false);
    if (b) b.disabled = false;
    return;
  }
  if (b) b.disabled = false;
  let body = {};
  try {
    body = JSON.parse(text);
  } catch (e) {
    /* not JSON: the status says enough */
  }
  if (status === 401) {
    setToken('');
    answer('The token was refused: it is forgotten here. ' +
      'Type the token of http.token again.', false);
  } else if (status >= 200 && status < 300) {
    let more = body.state ? ': ' + body.state : '';
    if (body.reloaded) {
      const parts = ['added', 'removed', 'changed']
        .filter((k) => body[k] && body[k].length)
        .map((k) => k + ' ' + body[k].join(', '));
      more = parts.length ? ': ' + parts.join('; ') : ': nothing changed';
    }
    answer(what + ' (' + status + ')' + more, true);
  } else {
    answer(what + ' refused (' + status + '): ' + (body.error || text), false);
  }
  refreshSoon();
  renderAccess();
}

function renderHeader(d) {
  $('name').textContent = d.name || 'sidecar';
  document.title = (d.name || 'sidecar') + ': ' + d.status;
  const s = $('status');
  s.textContent = d.status;
  s.className = 'badge ' + stateKind(d.status);
  const flags = $('flags');
  flags.replaceChildren();
  for (const k of ['live', 'ready', 'started']) {
    flags.append(el('li', d[k] ? 'good' : 'bad', (d[k] ? '✓ ' : '✗ ') + k));
  }
  if (d.draining) flags.append(el('li', 'warn', 'draining'));
}

function renderServices(d) {
  const box = $('services');
  box.replaceChildren();
  const control = canControl();
  for (const s of d.services || []) {
    const card = el('article', 'card');
    card.dataset.service = s.name;
    const head = el('div', 'head');
    head.append(el('h3', null, s.name), badge(s.state, stateKind(s.state)));
    if (control) {
      const acts = el('div', 'acts');
      for (const a of ['restart', 'stop', 'start']) {
        acts.append(button(a, '/services/' + encodeURIComponent(s.name) +
          '/' + a, a + ' ' + s.name));
      }
      head.append(acts);
    }
    card.append(head, kv([
      ['role', s.role + (s.essential ? ', essential' : '')],
      ['pid', s.pid > 0 ? s.pid : '–'],
      ['restarts', s.restarts],
      ['uptime', duration(s.uptime_s)],
      ['last exit', s.last_exit_code === null ? '–' : s.last_exit_code],
      ['status', s.status_text],
      ['not ready', s.not_ready],
    ]));
    box.append(card);
  }
  if (!box.childElementCount) box.append(el('p', 'note', 'No services.'));
}

function strip(recent) {
  const st = el('span', 'strip');
  st.title = 'last results, oldest first';
  for (const c of recent || '') {
    st.append(el('span', c === 'P' ? 'mark pass' : 'mark fail'));
  }
  const passed = (recent || '').split('P').length - 1;
  st.setAttribute('aria-label', passed + ' of ' + (recent || '').length +
    ' last results passed');
  return st;
}

function renderProbes(d) {
  const box = $('probes');
  box.replaceChildren();
  const control = canControl();
  for (const p of d.probes || []) {
    const card = el('article', 'card');
    card.dataset.probe = p.name;
    const head = el('div', 'head');
    head.append(el('h3', null, p.name), badge(p.state, stateKind(p.state)),
      el('span', 'imp', p.importance));
    if (control && p.type === 'ttl') {
      const acts = el('div', 'acts');
      const path = '/probes/' + encodeURIComponent(p.name) + '/';
      acts.append(button('pass', path + 'pass', 'pass ' + p.name),
        button('fail', path + 'fail', 'fail ' + p.name));
      head.append(acts);
    }
    const last = p.last || {};
    card.append(head, kv([
      ['type', p.type + (p.service ? ' of ' + p.service : '')],
      ['since', when(p.since)],
      ['last', p.last ? (last.ok ? 'passed' : 'failed') + ' in ' +
        last.duration_ms + ' ms at ' + when(last.at) : 'no result yet'],
      ['reason', last.reason],
      ['restart held until', p.restart_held_until ?
        when(p.restart_held_until) : null],
    ]));
    if (p.recent) card.append(strip(p.recent));
    box.append(card);
  }
  if (!box.childElementCount) box.append(el('p', 'note', 'No probes.'));
}

function renderConfig(d) {
  const c = d.config || {};
  const r = c.last_reload;
  const dl = $('config');
  dl.replaceChildren();
  kv([
    ['file', c.path],
    ['watched', c.watch ? 'yes' : 'no'],
    ['reloads', c.reloads],
    ['failed reloads', c.reload_failures],
    ['last reload', r ? (r.ok ? 'ok' : 'failed') + ', ' + r.trigger + ', ' +
      when(r.at) : 'none'],
    ['error', r && !r.ok ? r.error : null],
  ], dl);
  $('reload').hidden = !canControl();
}

// After the token changed: the field emptied, the buttons redrawn.
function renderAccess() {
  const t = token();
  $('forget').hidden = !t;
  $('token').value = '';
  $('token').placeholder = t ? 'token set for this tab' :
    'http.token, for the buttons';
  if (details) render(details);
  else renderNote();
}

function renderNote() {
  let note = '';
  if (details && !details.control) {
    note = 'The write API is off (no http.token in the config): no buttons.';
  } else if (!token()) {
    note = 'Type the token to restart, stop and start services, reload ' +
      'and push ttl results. It is kept for this tab only.';
  }
  $('access-note').textContent = note;
}

// Redrawn only when something but uptimes changed, and never while a
// button is held down: a click needs the button it began on.
let drawn = '';
let holding = false;
function render(d) {
  const sig = canControl() + JSON.stringify(d, (k, v) =>
    k === 'uptime_s' ? undefined : v);
  if (holding) return;
  if (sig !== drawn) {
    drawn = sig;
    renderNote();
    renderHeader(d);
    renderServices(d);
    renderProbes(d);
    renderConfig(d);
  } else {
    for (const s of d.services || []) {
      const cell = document.querySelector(
        `[data-service="${CSS.escape(s.name)}"] [data-k="uptime"]`);
      if (cell) cell.textContent = duration(s.uptime_s);
    }
  }
  $('footer').textContent = 'sidecar ' + d.version + ', up ' +
    duration(d.uptime_s) + (streamOpen ? ', live' : ', polling');
}

function setUnreachable(yes) {
  if (yes === unreachable) return;
  unreachable = yes;
  banner(yes ? 'sidecar cannot be reached at ' + location.host +
    ': what you see may be stale. Retrying…' : '');
  if (!yes && !stream) openStream(); // it may be back with /events
}

async function refresh() {
  if (fetching) {
    again = true;
    return;
  }
  fetching = true;
  try {
    const r = await fetch('/health/details', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    details = await r.json();
    // Details are cached up to 1 s: an older copy may say a little less.
    const restart = details.uptime_s < lastUptime - 1.5;
    lastUptime = details.uptime_s;
    if (restart) restarted();
    setUnreachable(false);
    render(details);
  } catch (e) {
    setUnreachable(true);
  } finally {
    fetching = false;
    schedule();
    if (again) {
      again = false;
      refreshSoon();
    }
  }
}

function schedule() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(refresh, (streamOpen ? POLL_S : POLL_ALONE_S) * 1e3);
}

// Several events at once (a crash, its probe, health): one fetch.
function refreshSoon() {
  clearTimeout(debounce);
  debounce = setTimeout(refresh, 200);
}

function eventText(ev) {
  const skip = new Set(['ts', 'level', 'msg', 'fields']);
  const f = Object.assign({}, ev.fields || {}, ev);
  return Object.keys(f).filter((k) => !skip.has(k))
    .map((k) => k + '=' + (typeof f[k] === 'object' ? JSON.stringify(f[k]) :
      f[k])).join(' ');
}

function addEvent(ev, id) {
  const li = el('li', 'ev ' + (ev.level || 'info'));
  li.append(el('time', null, when(ev.ts)), el('b', null, ev.msg || '?'),
    el('span', null, eventText(ev)));
  li.dataset.id = id || '';
  if (id) shown.add(id);
  const list = $('events');
  list.prepend(li);
  while (list.childElementCount > EVENTS_MAX) {
    shown.delete(list.lastElementChild.dataset.id);
    list.lastElementChild.remove();
  }
}

// Said once a restart, whichever tells first: the stream ("lost" -1, the
// new process does not know the last id) or details (uptime went back).
function sayRestarted() {
  const now = Date.now();
  if (now - restartSaidAt > 10e3)
    addEvent({ msg: 'sidecar restarted', level: 'warn' });
  restartSaidAt = now;
}

// A new sidecar process. Its ids are above the old one's (unless the clock
// went back), so the stream that reconnects by itself gets all it has.
function restarted() {
  sayRestarted();
  lastId = 0;
  if (!stream) openStream();
}

function openStream() {
  if (!window.EventSource) return;
  clearTimeout(retryTimer);
  retryTimer = 0;
  const es = new EventSource('/events');
  stream = es;
  es.onopen = () => {
    streamOpen = true;
    $('events-note').textContent = '';
    setUnreachable(false);
    schedule();
  };
  es.onmessage = (m) => {
    const id = m.lastEventId;
    if (!id || Number(id) <= lastId || shown.has(id)) return; // a replay
    try {
      addEvent(JSON.parse(m.data), id);
    } catch (e) {
      return;
    }
    lastId = Number(id);
    refreshSoon();
  };
  // Events left the ring (K), or the id was another process's (-1): the
  // whole ring follows.
  es.addEventListener('lost', (m) => {
    let k = -1;
    try {
      k = JSON.parse(m.data).lost;
    } catch (e) {}
    lastId = 0;
    if (k > 0) addEvent({ msg: k + ' events were missed', level: 'warn' });
    else sayRestarted();
    refreshSoon();
  });
  es.onerror = () => {
    streamOpen = false;
    if (es.readyState === EventSource.CLOSED && stream === es) {
      // Refused (sidecar's limit of streams, or one without /events):
      // details are polled instead, and the stream asked for again later.
      stream = null;
      $('events-note').textContent = 'sidecar refused the event stream ' +
        '(too many open?): the page polls every ' + POLL_ALONE_S +
        ' s and asks again in ' + RETRY_STREAM_S + ' s.';
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        retryTimer = 0;
        if (!stream) openStream();
      }, RETRY_STREAM_S * 1e3);
    }
    refreshSoon(); // says whether sidecar itself is reachable
  };
}

function init() {
  document.addEventListener('pointerdown', (e) => {
    holding = !!e.target.closest('button');
  });
  const release = () => {
    if (!holding) return;
    setTimeout(() => {
      holding = false;
      if (details) render(details);
    }, 50); // after the click
  };
  document.addEventListener('pointerup', release);
  document.addEventListener('pointercancel', release);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    if (t) setToken(t);
    $('answer').hidden = true;
    renderAccess();
  });
  $('forget').addEventListener('click', () => {
    setToken('');
    renderAccess();
  });
  $('reload').addEventListener('click', () =>
    post('/reload', 'reload', $('reload')));
  renderAccess();
  refresh();
  openStream();
}

init();
