// The ISS live telemetry dashboard: plain JavaScript, no build step.
// Reads the REST gateway (JSON in proto3 mapping) and its SSE live tail.
'use strict';

const TANK = 'NODE3000005';
const SVG_NS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

const state = {
  hours: 6,
  tank: [],         // [{t: Date, v: number}]
  detections: [],
  item: null,       // the chosen item id
  itemPoints: [],
  items: new Map(), // itemId -> row element
  labels: new Map(), // itemId -> Map(raw value -> label), for enumerated items
  tail: null,
};

// --- API ------------------------------------------------------------------

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    for (const one of [].concat(v)) url.searchParams.append(k, one);
  }
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || `${res.status} ${res.statusText}`);
  return body;
}

function windowParams(hours) {
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600e3);
  // About 300 points per chart, never finer than a second.
  const bucket = Math.max(1, Math.round((hours * 3600) / 300));
  return { startTime: start.toISOString(), endTime: end.toISOString(), bucket: `${bucket}s` };
}

// --- formatting ------------------------------------------------------------

const fmtTime = (d) => d.toISOString().slice(11, 19) + 'Z';
const fmtDateTime = (d) => d.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
function fmtValue(v, units) {
  if (v === undefined || v === null || v === '') return '–';
  const n = Number(v);
  const text = Number.isFinite(n) && String(v).trim() !== '' ? String(+n.toFixed(3)) : String(v);
  return units ? `${text} ${units}` : text;
}
// An enumerated item's value with what it means, e.g. "32 (STANDBY)".
function labelOf(itemId, v) {
  const labels = state.labels.get(itemId);
  if (!labels || v === undefined || v === null) return '';
  const n = Number(v);
  return labels.get(String(v)) || (Number.isInteger(n) ? labels.get(String(n)) : '') || '';
}
function fmtLabeled(itemId, v, units) {
  const label = labelOf(itemId, v);
  return label ? `${fmtValue(v, units)} (${label})` : fmtValue(v, units);
}
const enumText = (s, prefix) => (s || '').replace(prefix, '').replace(/_/g, ' ').toLowerCase() || 'unknown';

function setPill(id, text, level) {
  $(id + '-text').textContent = text;
  $(id).dataset.state = level;
}

// --- charts ----------------------------------------------------------------

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// Draws points [{t, v}] (and optional detection bands) into `container`.
function drawChart(container, points, opts) {
  const W = 800, H = 260, L = 44, R = 10, T = 10, B = 24;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const t0 = opts.start.getTime(), t1 = Math.max(opts.end.getTime(), t0 + 1);
  const values = points.map((p) => p.v);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!values.length) { lo = 0; hi = 1; }
  if (opts.percent) { lo = Math.max(0, Math.floor(lo - 5)); hi = Math.min(100, Math.ceil(hi + 5)); }
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);

  const grid = el('g', { class: 'grid' }, svg);
  const axis = el('g', { class: 'axis' }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }, grid);
    el('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, axis).textContent = +v.toFixed(1);
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    el('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, axis)
      .textContent = fmtTime(new Date(t));
  }

  for (const d of opts.detections || []) {
    // A stale detection (too old when found: a backlog, a replay) was never posted.
    const stale = d.postStatus === 'POST_STATUS_STALE';
    const g = el(
        'g', {class: stale ? 'detection stale' : 'detection', 'data-id': d.detectionId || ''}, svg);
    const xs = x(Date.parse(d.startTime)), xe = x(Date.parse(d.endTime || d.startTime));
    el('rect', { x: xs, y: T, width: Math.max(2, xe - xs), height: H - T - B }, g);
    el('line', { x1: xs, x2: xs, y1: T, y2: H - B }, g);
    el('text', { x: xs + 3, y: T + 12 }, g).textContent = `+${(+d.risePercent || 0).toFixed(0)}%`;
  }

  if (points.length) {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t.getTime()).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    el('path', { class: 'series', d }, svg);
    const last = points[points.length - 1];
    el('circle', { class: 'live-point', cx: x(last.t.getTime()), cy: y(last.v), r: 4 }, svg);
  }
  svg.dataset.points = String(points.length);
  svg.dataset.detections = String((opts.detections || []).length);
  container.replaceChildren(svg);
}

function mergeLive(history, current) {
  const lastT = history.length ? history[history.length - 1].t : new Date(0);
  return history.concat(current.filter((p) => p.live && p.t > lastT));
}

function seriesPoints(resp) {
  return (resp.buckets || [])
    .map((b) => ({ t: new Date(b.startTime), v: b.avg !== undefined ? Number(b.avg) : Number(b.last) }))
    .filter((p) => Number.isFinite(p.v));
}

// --- urine tank ------------------------------------------------------------

let tankWindow = null;

function drawTank() {
  const end = new Date();
  const start = new Date(end.getTime() - state.hours * 3600e3);
  state.tank = state.tank.filter((p) => p.t >= start);
  drawChart($('tank-chart'), state.tank, { start, end, percent: true, detections: state.detections });
  const last = state.tank[state.tank.length - 1];
  $('tank-summary').textContent = state.tank.length
    ? `${state.tank.length} points over the last ${state.hours} h; latest ${fmtValue(last.v, '%')} at ` +
      `${fmtDateTime(last.t)}; ${state.detections.length} detection(s).`
    : `No tank data in the last ${state.hours} h.`;
}

async function loadTank() {
  const p = windowParams(state.hours);
  tankWindow = p;
  try {
    const [series, dets] = await Promise.all([
      api(`/api/v1/items/${TANK}/series`, p),
      api('/api/v1/peebot/detections', { startTime: p.startTime, endTime: p.endTime, pageSize: 100 })
        .catch(() => ({ detections: [] })),
    ]);
    // Live points that arrived while the history loaded are newer: keep them.
    state.tank = mergeLive(seriesPoints(series), state.tank);
    state.detections = dets.detections || [];
    renderDetections();
    drawTank();
    if (state.tank.length) $('tank-now').textContent = fmtValue(state.tank[state.tank.length - 1].v, '%');
  } catch (e) {
    $('tank-summary').textContent = `Could not load the tank history: ${e.message}`;
  }
}

function renderDetections() {
  const list = $('detections');
  list.replaceChildren();
  if (!state.detections.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'None.';
    list.appendChild(li);
    return;
  }
  for (const d of state.detections) {
    const li = document.createElement('li');
    const stale = d.postStatus === 'POST_STATUS_STALE';
    li.className = stale ? 'detection-item stale' : 'detection-item';
    li.textContent = `${fmtDateTime(new Date(d.startTime))}: +${(+d.risePercent).toFixed(1)}% ` +
        `(${(+d.startLevelPercent).toFixed(0)} → ${(+d.endLevelPercent).toFixed(0)}%, ` +
        `≈${Math.round(+d.estimatedVolumeMl)} ml) · ` +
        (stale ? 'stale: too old when detected, not posted' :
                 enumText(d.postStatus, 'POST_STATUS_'));
    if (d.lastError) li.title = d.lastError;
    list.appendChild(li);
  }
}

// --- status strip -----------------------------------------------------------

async function loadStatus() {
  try {
    const s = await api('/api/v1/ingest/status');
    const sig = s.signal || '';
    setPill('signal', sig.endsWith('AOS') ? 'AOS (live)' : sig.endsWith('LOS') ? 'LOS (frozen)' :
      sig.endsWith('STALE') ? 'stale' : 'unknown', sig.endsWith('AOS') ? 'ok' : sig.endsWith('LOS') ? 'bad' : 'warn');
    showSource(s);
    if (s.lastUpdateAt) noteUpdate(new Date(s.lastUpdateAt));
  } catch (e) {
    setPill('ingest', 'ingestion not answering', 'bad');
    showNotice(`The ingestion service does not answer the gateway: ${e.message}`);
  }
  try {
    const p = await api('/api/v1/peebot/status');
    setPill('peebot', `${p.mode || 'unknown'} · ${p.postsToday || 0} posts today`, p.mode === 'live' ? 'ok' : 'warn');
  } catch (e) {
    setPill('peebot', 'unreachable', 'bad');
  }
}

// The station feed as ingestion sees it: what is wrong and what to do.
function showSource(s) {
  const conn = s.connectionState || '';
  const until = s.nextAttemptAt ? ` until ${fmtTime(new Date(s.nextAttemptAt))}` : '';
  const refused = (s.refusedItems || []).length;
  let text = enumText(conn, 'CONNECTION_STATE_');
  let level = 'bad';
  if (conn.endsWith('_CONNECTED')) {
    text = refused ? `streaming (${refused} item(s) refused)` : 'streaming';
    level = refused ? 'warn' : 'ok';
  } else if (conn.endsWith('_CONNECTING')) {
    level = 'warn';
  } else if (conn.endsWith('_REFUSED')) {
    text = `refused by the server (code ${s.refusalCode || 0})`;
  } else if (conn.endsWith('_CIRCUIT_OPEN')) {
    text = `circuit open${until}`;
  } else if (conn.endsWith('_STALLED')) {
    level = 'warn';
  }
  setPill('ingest', text, level);
  const why = [s.stateReason, s.refusalMessage && !String(s.stateReason || '').includes(s.refusalMessage) ? s.refusalMessage : '']
    .filter(Boolean).join(': ');
  showNotice(level === 'ok' || conn.endsWith('_CONNECTING') && !why ? '' :
    [why && `Station feed: ${why}.`, s.hint].filter(Boolean).join(' '));
}

function showNotice(text) {
  const n = $('source-notice');
  n.textContent = text || '';
  n.hidden = !text;
}

let lastUpdate = null;
function noteUpdate(t) {
  if (!lastUpdate || t > lastUpdate) lastUpdate = t;
  $('last-update').textContent = fmtDateTime(lastUpdate);
}

// --- live tail (SSE) -------------------------------------------------------

function openTail() {
  if (state.tail) state.tail.close();
  const url = new URL('/api/v1/telemetry:tail', location.origin);
  url.searchParams.append('item_ids', TANK);
  if (state.item && state.item !== TANK) url.searchParams.append('item_ids', state.item);
  const es = new EventSource(url);
  state.tail = es;
  es.onopen = () => setPill('live', 'connected', 'ok');
  es.onmessage = (m) => onEvent(JSON.parse(m.data));
  // The gateway ends every stream with an `end` event carrying a google.rpc.Status.
  es.addEventListener('end', (m) => {
    es.close();
    let why = '';
    try { why = JSON.parse(m.data).message || ''; } catch (e) { /* keep empty */ }
    setPill('live', why ? `ended: ${why}` : 'ended', 'warn');
    setTimeout(() => { if (state.tail === es) openTail(); }, 5000);
  });
  es.onerror = () => setPill('live', 'reconnecting…', 'warn');
}

function onEvent(ev) {
  const t = new Date(ev.sourceTs);
  const v = Number(ev.value);
  noteUpdate(new Date(ev.ingestTs || ev.sourceTs));
  document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents || 0) + 1);
  if (ev.itemId === TANK && Number.isFinite(v)) {
    state.tank.push({ t, v, live: true });
    $('tank-now').textContent = fmtValue(v, '%');
    drawTank();
  }
  if (ev.itemId === state.item) {
    $('item-now').textContent = fmtLabeled(ev.itemId, ev.value, currentUnits());
    if (Number.isFinite(v)) { state.itemPoints.push({ t, v, live: true }); drawItem(); }
  }
  const row = state.items.get(ev.itemId);
  if (row) {
    row.querySelector('.last-value').textContent = fmtLabeled(ev.itemId, ev.value);
    row.querySelector('.last-seen').textContent = fmtTime(t);
  }
}

// --- item browser and item chart -------------------------------------------

let searchSeq = 0;
async function loadItems(search) {
  const seq = ++searchSeq;
  try {
    const resp = await api('/api/v1/items', search ? { search, pageSize: 200 } : { pageSize: 500 });
    if (seq !== searchSeq) return;  // a newer search is on its way
    renderItems(resp.items || []);
  } catch (e) {
    $('items-caption').textContent = `Could not load items: ${e.message}`;
  }
}

function renderItems(items) {
  const tbody = document.querySelector('#items tbody');
  tbody.replaceChildren();
  state.items.clear();
  for (const it of items) {
    if (it.valueLabels && it.valueLabels.length) {
      state.labels.set(it.itemId, new Map(it.valueLabels.map((l) => [l.value, l.label])));
    }
    const tr = document.createElement('tr');
    tr.dataset.item = it.itemId;
    tr.dataset.units = it.units || '';
    tr.setAttribute('aria-selected', String(it.itemId === state.item));
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = it.itemId;
    btn.setAttribute('aria-label', `Chart ${it.itemId} ${it.name || ''}`);
    btn.addEventListener('click', () => chooseItem(it.itemId, it.name, it.units));
    const cells = [btn, it.name || it.opsName || '', it.units || '', fmtLabeled(it.itemId, it.lastValue),
      it.lastSeen ? fmtDateTime(new Date(it.lastSeen)) : '–'];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      if (i === 1) td.className = 'name';
      if (i === 3) td.className = 'last-value';
      if (i === 4) td.className = 'last-seen';
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
    state.items.set(it.itemId, tr);
  }
  $('items-caption').textContent = `${items.length} item(s). Choose one to chart it.`;
}

function currentUnits() {
  const row = state.items.get(state.item);
  return row ? row.dataset.units : '';
}

let itemWindow = null;
function drawItem() {
  if (!itemWindow) return;
  const end = new Date();
  const start = new Date(end.getTime() - state.hours * 3600e3);
  drawChart($('item-chart'), state.itemPoints, { start, end });
  $('item-summary').textContent = `${state.itemPoints.length} points over the last ${state.hours} h.`;
}

async function chooseItem(id, name, units) {
  if (state.item !== id) state.itemPoints = [];
  state.item = id;
  for (const [k, row] of state.items) row.setAttribute('aria-selected', String(k === id));
  $('item-title').textContent = `${id}${name ? ' · ' + name : ''}${units ? ` (${units})` : ''}`;
  const p = windowParams(state.hours);
  itemWindow = p;
  try {
    const history = seriesPoints(await api(`/api/v1/items/${encodeURIComponent(id)}/series`, p));
    if (state.item !== id) return;  // another item was chosen meanwhile
    state.itemPoints = mergeLive(history, state.itemPoints);
    drawItem();
    const last = state.itemPoints[state.itemPoints.length - 1];
    if (last) $('item-now').textContent = fmtLabeled(id, last.v, units);
  } catch (e) {
    $('item-summary').textContent = `Could not load ${id}: ${e.message}`;
  }
  openTail();  // follow the chosen item live too
}

// --- start -------------------------------------------------------------------

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function start() {
  $('hours').addEventListener('change', (e) => {
    state.hours = Number(e.target.value);
    loadTank();
    if (state.item) chooseItem(state.item, '', currentUnits());
  });
  $('search').addEventListener('input', debounce((e) => loadItems(e.target.value.trim()), 250));
  loadStatus();
  loadTank();
  loadItems('');
  openTail();
  setInterval(loadStatus, 15000);
  setInterval(loadTank, 5 * 60000);  // re-anchor the window; live points fill in between
}

document.addEventListener('DOMContentLoaded', start);
