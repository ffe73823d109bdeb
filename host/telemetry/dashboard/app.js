// edgeloop dashboard: polls /api/state and /api/history on this server and
// draws what it gets. Plain browser JavaScript, no bundler, no network
// beyond this server (uPlot is served from node_modules).
//
// Every element a test or an operator's script may look for has a stable
// id or data attribute: #agents tr[data-agent][data-health][data-tripped],
// #first-out tr[data-agent] td[data-field=cause],
// .chart[data-agent][data-points][data-env-min][data-env-max][data-trips],
// #rollout[data-phase], #status[data-polls]; with an operator's log-in,
// #login-form, #whoami, #controls tr[data-agent] with button[data-action],
// input[data-field=setpoint-input], select[data-field=mode-select] and
// td[data-field=answer][data-state].
//
// Operator commands appear only when the server has operators and this
// browser has logged in (GET /api/session); without that the page is
// read-only, as it always was. Every POST carries the header the server
// asks for (x-edgeloop-request: 1), its defence against requests forged by
// other sites.
//
// Each chart draws the agent's safety envelope (its DBIRTH's envelope/min
// and envelope/max) as dashed horizontal lines, with the y axis stretched to
// show them, shades the modes out of NOMINAL behind the lines, and marks
// where the trip output was de-energized with a strip along the top.
//
// Query parameters: poll (ms, default 1000), charts (at most this many
// charts, default 24), window (ms of history per chart, default 10 min).
(function () {
  'use strict';

  const params = new URLSearchParams(location.search);
  const POLL_MS = intParam('poll', 1000, 100, 60000);
  const CHARTS_MAX = intParam('charts', 24, 1, 500);
  const WINDOW_MS = intParam('window', 10 * 60 * 1000, 1000, 7 * 24 * 3600 * 1000);
  const ALARM_LOG_MAX = 100;
  const STROKE = { setpoint: '#7b1fa2', measurement: '#1f77b4', output: '#2ca02c', envelope: '#c2185b' };
  const MODE_FILL = {
    DEGRADED: 'rgba(255, 193, 7, 0.35)',
    FALLBACK: 'rgba(255, 112, 67, 0.35)',
    SAFE_STOP: 'rgba(229, 57, 53, 0.35)',
  };
  const MODE_FILL_OTHER = 'rgba(171, 71, 188, 0.25)';
  const TRIP_FILL = 'rgba(183, 28, 28, 0.85)';
  /** The core's "no limit" (its envelope parameters' defaults, +-30000): such a limit is not drawn. */
  const ENVELOPE_OPEN = 30000;

  /** key -> { el, plot, t, setpoint, measurement, output, modes, trips, env, lastMs } */
  const charts = new Map();
  let polls = 0;

  function intParam(name, dflt, min, max) {
    const raw = params.get(name);
    const v = raw === null ? dflt : Number(raw);
    return Number.isInteger(v) ? Math.min(max, Math.max(min, v)) : dflt;
  }

  /** An element with attributes and text; text goes through textContent, never HTML. */
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function td(field, text, cls) {
    return el('td', { 'data-field': field, class: cls }, text);
  }

  function clock(ms) {
    return ms === null || ms === undefined ? '-' : new Date(ms).toLocaleTimeString();
  }

  function age(nowMs, ms) {
    if (!ms) return '-';
    const s = Math.max(0, (nowMs - ms) / 1000);
    return s < 60 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`;
  }

  async function getJson(path) {
    const res = await fetch(path, { cache: 'no-store' });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }

  // ---- agents ----

  /** The trip cell: de-energized and why, a trip that did not take effect, or 'no'. */
  function tripText(a) {
    const failed = (a.guard || []).includes('trip_failed');
    if (!a.tripped) return { text: 'no', cls: '' };
    const why = a.tripCause ? ` (${a.tripCause})` : '';
    return failed ? { text: `TRIP FAILED${why}`, cls: 'trip-failed' } : { text: `TRIPPED${why}`, cls: 'trip-yes' };
  }

  /** The guard's causes now, with those latched until a reset marked. */
  function causesText(a) {
    const causes = a.causes || [];
    const latched = a.latched || [];
    const all = causes.concat(latched.filter((c) => !causes.includes(c)));
    return all.length ? all.map((c) => (latched.includes(c) ? `${c} (latched)` : c)).join(', ') : '-';
  }

  function renderAgents(s) {
    const rows = s.agents.map((a) => {
      const contained = a.contained || (a.held ? 'hold' : null);
      const trip = tripText(a);
      const tr = el('tr', { 'data-agent': a.key, 'data-health': a.health, 'data-mode': a.mode, 'data-held': a.held ? 'yes' : 'no',
        'data-tripped': a.tripped ? 'yes' : 'no' });
      tr.append(
        el('td', { class: 'key', 'data-field': 'key' }, a.key),
        td('health', a.health, `health-${a.health}`),
        // A device of another Sparkplug edge node: tracked for its health, not a loop (no mode, trip or guard).
        a.kind === 'foreign' ? td('mode', 'foreign device', 'mode-foreign') : td('mode', a.mode, `mode-${a.mode}`),
        td('trip', a.kind === 'foreign' ? '-' : trip.text, a.kind === 'foreign' ? '' : trip.cls),
        td('causes', causesText(a), 'mono'),
        td('cause', a.cause || '-'),
        td('held', contained === 'hold' ? 'held' : contained === 'fallback' ? 'fallback' : 'no', contained ? 'held-yes' : ''),
        td('last-seen', age(s.nowMs, a.lastSeenMs)),
      );
      return tr;
    });
    document.querySelector('#agents tbody').replaceChildren(...rows);
    document.getElementById('agents-empty').hidden = rows.length > 0;
  }

  // ---- alarms ----

  function renderAlarms(s) {
    const rows = s.firstOut.map((f) => {
      const tr = el('tr', { 'data-agent': f.agent, 'data-active': f.active ? 'yes' : 'no', class: f.active ? 'active' : 'cleared' });
      tr.append(
        el('td', { class: 'key', 'data-field': 'agent' }, f.agent),
        td('cause', f.stage ? `${f.monitor}/${f.stage}` : f.monitor, 'mono'),
        td('stage', f.stage || '-'),
        td('since', clock(f.sinceMs)),
        td('state', f.active ? 'active' : 'cleared'),
      );
      return tr;
    });
    document.querySelector('#first-out tbody').replaceChildren(...rows);
    document.getElementById('first-out-empty').hidden = rows.length > 0;
    const TRIP_WORDS = { trip_out: 'trip output de-energized:', trip_release: 'trip output energized again after', trip_failed: 'TRIP FAILED (feedback does not show it):' };
    const log = s.alarms.slice(-ALARM_LOG_MAX).reverse().map((a) => {
      const cause = `${a.monitor}${a.stage ? '/' + a.stage : ''}`;
      const what = a.kind === 'mode' ? `mode ${a.stage || '?'} -> ${a.monitor}` : TRIP_WORDS[a.kind] ? `${TRIP_WORDS[a.kind]} ${cause}` : `${a.kind} ${cause}`;
      return el('li', { 'data-agent': a.agent, 'data-kind': a.kind }, `${clock(a.tMs)} ${a.agent} ${what}`);
    });
    document.getElementById('alarm-log').replaceChildren(...log);
  }

  // ---- rollout ----

  function renderRollout(r) {
    const box = document.getElementById('rollout');
    if (!r) {
      box.setAttribute('data-phase', 'none');
      box.replaceChildren(el('p', { class: 'empty' }, 'No rollout.'));
      return;
    }
    box.setAttribute('data-phase', r.phase);
    const dl = el('dl');
    const item = (name, value, cls) => dl.append(el('dt', {}, name), el('dd', { 'data-field': name, class: cls }, value));
    item('phase', r.phase, `phase-${r.phase}`);
    item('id', r.id);
    item('group', r.group);
    item('module', r.module);
    item('canary', r.canary);
    item('started', clock(r.startedMs));
    if (r.soakUntilMs !== null && r.soakUntilMs !== undefined) item('soak until', clock(r.soakUntilMs));
    item('reason', r.reason || '-');
    const table = el('table', { id: 'rollout-agents' });
    table.append(el('thead'));
    table.tHead.append(el('tr'));
    for (const h of ['agent', 'state', 'detail']) table.tHead.rows[0].append(el('th', {}, h));
    const body = el('tbody');
    for (const a of r.agents) {
      const tr = el('tr', { 'data-agent': a.key, 'data-state': a.state });
      tr.append(el('td', { class: 'key' }, a.key), td('state', a.state), td('detail', a.detail || '-'));
      body.append(tr);
    }
    table.append(body);
    box.replaceChildren(dl, table);
  }

  // ---- decisions and commands ----

  function renderDecisions(s) {
    const rows = s.decisions.slice().reverse().map((d) => {
      const tr = el('tr', { 'data-agent': d.agent });
      tr.append(td('time', clock(d.tMs)), el('td', { class: 'key' }, d.agent), td('action', d.action), td('reason', d.reason));
      return tr;
    });
    document.querySelector('#decisions tbody').replaceChildren(...rows);
  }

  function renderCommands(s) {
    const rows = s.commands.map((c) => {
      const tr = el('tr', { 'data-command': c.id, 'data-state': c.state });
      tr.append(td('id', c.id, 'mono'), el('td', { class: 'key' }, c.target), td('kind', c.kind), td('state', c.state), td('sent', clock(c.sentMs)), td('detail', c.detail || '-'));
      return tr;
    });
    document.querySelector('#commands tbody').replaceChildren(...rows);
  }

  // ---- charts ----

  /** Shade the plot behind the lines wherever the loop was out of NOMINAL. */
  function drawModes(chart, u) {
    const t = u.data[0];
    const { left, top, width, height } = u.bbox;
    const ctx = u.ctx;
    ctx.save();
    for (let i = 0; i < t.length;) {
      const mode = chart.modes[i];
      let j = i + 1;
      while (j < t.length && chart.modes[j] === mode) j++;
      if (mode && mode !== 'NOMINAL') {
        const x0 = Math.max(left, u.valToPos(t[i], 'x', true));
        const x1 = Math.min(left + width, j < t.length ? u.valToPos(t[j], 'x', true) : left + width);
        if (x1 > x0) {
          ctx.fillStyle = MODE_FILL[mode] || MODE_FILL_OTHER;
          ctx.fillRect(x0, top, x1 - x0, height);
        }
      }
      i = j;
    }
    ctx.restore();
  }

  /** Where the trip output was de-energized: a strip along the top of the plot, over the lines. */
  function drawTrips(chart, u) {
    const t = u.data[0];
    const { left, top, width, height } = u.bbox;
    const strip = Math.max(6, Math.round(height * 0.06));
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = TRIP_FILL;
    for (let i = 0; i < t.length;) {
      const on = chart.trips[i] === true;
      let j = i + 1;
      while (j < t.length && (chart.trips[j] === true) === on) j++;
      if (on) {
        const x0 = Math.max(left, u.valToPos(t[i], 'x', true));
        const x1 = Math.min(left + width, j < t.length ? u.valToPos(t[j], 'x', true) : left + width);
        if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, strip);
        // The moment it tripped: a marker down the whole plot.
        if (x0 > left) ctx.fillRect(x0 - 1, top, 2, height);
      }
      i = j;
    }
    ctx.restore();
  }

  /** A limit the core actually enforces (not its open default). */
  function limited(v) {
    return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) < ENVELOPE_OPEN;
  }

  /** The envelope's limits as dashed horizontal lines across the plot. */
  function drawEnvelope(chart, u) {
    const { left, top, width, height } = u.bbox;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = STROKE.envelope;
    ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
    ctx.setLineDash([10, 6]);
    for (const v of [chart.env.min, chart.env.max]) {
      if (!limited(v)) continue;
      const y = Math.round(u.valToPos(v, 'y', true));
      if (y < top || y > top + height) continue;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
    }
    ctx.restore();
  }

  /** The y range: the data and the envelope's limits, with a little room. */
  function yRange(chart, min, max) {
    let lo = min;
    let hi = max;
    for (const v of [chart.env.min, chart.env.max]) {
      if (!limited(v)) continue;
      lo = lo === null || lo === undefined ? v : Math.min(lo, v);
      hi = hi === null || hi === undefined ? v : Math.max(hi, v);
    }
    if (lo === null || lo === undefined || hi === null || hi === undefined) return [0, 1];
    const pad = Math.max(1e-6, (hi - lo) * 0.05);
    return [lo - pad, hi + pad];
  }

  /** The chart's own grid cell decides its width, so a canvas never spills into the next cell. */
  function chartWidth(cell) {
    return Math.max(300, (cell.clientWidth || 460) - 4);
  }

  function makeChart(key) {
    const el_ = el('div', { class: 'chart', 'data-agent': key, 'data-points': 0, 'data-trips': 0, 'data-env-min': '', 'data-env-max': '' });
    const h3 = el('h3', {}, key);
    h3.append(el('span', { class: 'unit' }));
    el_.append(h3);
    document.getElementById('charts').append(el_);
    const chart = { el: el_, plot: null, t: [], setpoint: [], measurement: [], output: [], modes: [], trips: [], env: { min: null, max: null }, lastMs: null };
    chart.plot = new uPlot({
      width: chartWidth(el_),
      height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => yRange(chart, min, max) } },
      series: [
        {},
        { label: 'setpoint', stroke: STROKE.setpoint, width: 1.5, dash: [6, 4], scale: 'y' },
        { label: 'measurement', stroke: STROKE.measurement, width: 1.5, scale: 'y' },
        { label: 'output', stroke: STROKE.output, width: 1, scale: 'out' },
      ],
      axes: [{}, { scale: 'y' }, { scale: 'out', side: 1, grid: { show: false } }],
      // The limits last: a trip strip never hides them.
      hooks: { drawClear: [(u) => drawModes(chart, u)], draw: [(u) => { drawTrips(chart, u); drawEnvelope(chart, u); }] },
    }, [[], [], [], []], el_);
    charts.set(key, chart);
    return chart;
  }

  /** Which agents get a chart: loops in trouble first, then by key, at most CHARTS_MAX. */
  function chartedAgents(agents) {
    const trouble = (a) => (a.cause || (a.mode !== 'NOMINAL' && a.mode !== '?') || a.health !== 'online' ? 0 : 1);
    return agents.slice().sort((a, b) => trouble(a) - trouble(b) || a.key.localeCompare(b.key)).slice(0, CHARTS_MAX).map((a) => a.key);
  }

  /** The envelope from the agent's birth: kept on the chart and in its data attributes; a change redraws. */
  function setEnvelope(chart, agent) {
    const env = (agent && agent.envelope) || {};
    const min = limited(env.min) ? env.min : null;
    const max = limited(env.max) ? env.max : null;
    chart.el.querySelector('h3 .unit').textContent = env.unit ? ` (${env.unit})` : '';
    if (min === chart.env.min && max === chart.env.max) return;
    chart.env = { min, max };
    chart.el.setAttribute('data-env-min', min === null ? '' : String(min));
    chart.el.setAttribute('data-env-max', max === null ? '' : String(max));
    if (chart.t.length) chart.plot.setData([chart.t, chart.setpoint, chart.measurement, chart.output]);
  }

  async function updateChart(chart, key, agent) {
    setEnvelope(chart, agent);
    const q = `agent=${encodeURIComponent(key)}` + (chart.lastMs === null ? '' : `&since=${chart.lastMs + 1}`);
    const h = await getJson(`/api/history?${q}`);
    if (h.samples.length === 0) return;
    for (const s of h.samples) {
      chart.t.push(s.tMs / 1000);
      chart.setpoint.push(s.setpoint);
      chart.measurement.push(s.measurement);
      chart.output.push(s.output);
      chart.modes.push(s.mode);
      chart.trips.push(s.tripped === true);
    }
    chart.lastMs = h.samples[h.samples.length - 1].tMs;
    // Keep a moving window so a page left open does not grow without bound.
    const from = (chart.lastMs - WINDOW_MS) / 1000;
    let cut = 0;
    while (cut < chart.t.length && chart.t[cut] < from) cut++;
    if (cut > 0) for (const k of ['t', 'setpoint', 'measurement', 'output', 'modes', 'trips']) chart[k].splice(0, cut);
    chart.plot.setData([chart.t, chart.setpoint, chart.measurement, chart.output]);
    chart.el.setAttribute('data-points', String(chart.t.length));
    chart.el.setAttribute('data-trips', String(chart.trips.filter((x, i) => x && !chart.trips[i - 1]).length));
    chart.el.setAttribute('data-last-ms', String(chart.lastMs));
    chart.el.setAttribute('data-mode', chart.modes[chart.modes.length - 1] || '');
  }

  async function updateCharts(s) {
    const keys = chartedAgents(s.agents);
    for (const [key, chart] of charts) {
      if (keys.includes(key)) continue;
      chart.plot.destroy();
      chart.el.remove();
      charts.delete(key);
    }
    const note = document.getElementById('charts-note');
    note.textContent = s.agents.length > keys.length ? `Charts for ${keys.length} of ${s.agents.length} agents (loops in trouble first).` : '';
    const byKey = new Map(s.agents.map((a) => [a.key, a]));
    await Promise.all(keys.map((key) => updateChart(charts.get(key) || makeChart(key), key, byKey.get(key))));
  }

  // ---- the history's writes ----

  function renderStore(h) {
    const box = document.getElementById('store-status');
    if (!h || h.lastError === null) { box.hidden = true; box.textContent = ''; return; }
    box.hidden = false;
    box.textContent = `History not being written: ${h.lastError}; ${h.pending} rows waiting, retried ` +
      `(${h.writeErrors} failed writes${h.dropped ? `, ${h.dropped} rows dropped` : ''}). The loops are not affected.`;
  }

  // ---- operator commands ----

  const OPERATOR_LOG_MAX = 50;
  const MODE_CHOICES = ['fallback', 'trip', 'none'];
  let operator = { enabled: false, user: null };
  /** key -> the loop's row of controls (kept across polls, so what is being typed stays). */
  const controlRows = new Map();
  let lastState = null;

  /** A POST as the server requires it; the answer's JSON (or null) with its status. */
  async function post(path, body) {
    const res = await fetch(path, {
      method: 'POST', cache: 'no-store', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'x-edgeloop-request': '1' },
    });
    let data = null;
    try { data = await res.json(); } catch (err) { data = null; }
    return { status: res.status, data };
  }

  async function loadSession() {
    try {
      const s = await getJson('/api/session');
      operator = { enabled: s.operators === true, user: s.user || null };
    } catch (err) {
      // The next poll's failure says so on the page; the controls stay as they were.
    }
    renderOperator();
  }

  function renderOperator() {
    const loggedIn = operator.user !== null;
    document.getElementById('operator').hidden = !operator.enabled;
    document.getElementById('login-form').hidden = !operator.enabled || loggedIn;
    document.getElementById('whoami').hidden = !loggedIn;
    document.getElementById('whoami-user').textContent = operator.user || '';
    document.getElementById('operator-panel').hidden = !loggedIn;
    if (!loggedIn) {
      for (const row of controlRows.values()) row.remove();
      controlRows.clear();
    } else if (lastState) {
      renderControls(lastState);
    }
  }

  function showAnswer(row, state, text) {
    const cell = row.querySelector('[data-field=answer]');
    cell.setAttribute('data-state', state);
    cell.textContent = text;
  }

  /** One command from a row: its value checked for presence here (the server checks the rest), then the answer shown. */
  async function act(key, action, row) {
    let value;
    if (action === 'setpoint') {
      value = row.querySelector('[data-field=setpoint-input]').value.trim();
      if (value === '') { showAnswer(row, 'invalid', 'enter the new setpoint first'); return; }
    } else if (action === 'mode') {
      value = row.querySelector('[data-field=mode-select]').value;
      // De-energizing the trip output stops the process: asked twice.
      if (value === 'trip' && !window.confirm(`De-energize the trip output of ${key}?`)) return;
    }
    const buttons = row.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    showAnswer(row, 'sending', `${action}${value === undefined ? '' : ` ${value}`}: waiting for the acknowledgement...`);
    try {
      const r = await post('/api/command', { target: key, action, value });
      if (r.status === 401) {
        operator.user = null;
        renderOperator();
        document.getElementById('login-error').textContent = 'Your session has ended: log in again.';
        return;
      }
      const result = r.data && r.data.result ? r.data.result : 'error';
      const line = r.data ? r.data.line || r.data.error : `HTTP ${r.status}`;
      showAnswer(row, result, line);
      const log = document.getElementById('operator-log');
      log.prepend(el('li', { 'data-state': result }, `${clock(Date.now())} ${line}`));
      while (log.children.length > OPERATOR_LOG_MAX) log.lastChild.remove();
    } catch (err) {
      showAnswer(row, 'error', `not sent: ${err.message}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function makeControlRow(key) {
    const row = el('tr', { 'data-agent': key });
    const button = (action, label) => {
      const b = el('button', { type: 'button', 'data-action': action }, label);
      b.addEventListener('click', () => act(key, action, row));
      return b;
    };
    const input = el('input', { type: 'number', step: 'any', 'data-field': 'setpoint-input', 'aria-label': `new setpoint for ${key}` });
    const select = el('select', { 'data-field': 'mode-select', 'aria-label': `demand for ${key}` });
    for (const m of MODE_CHOICES) select.append(el('option', { value: m }, m));
    const sp = el('td');
    sp.append(input, button('setpoint', 'Set'));
    const commands = el('td');
    commands.append(button('reset', 'Reset'), button('hold', 'Hold'), button('release', 'Release'));
    const demand = el('td');
    demand.append(select, button('mode', 'Demand'));
    const answer = td('answer', '-');
    answer.setAttribute('data-state', 'none');
    row.append(el('td', { class: 'key' }, key), td('mode', '-'), td('setpoint', '-'), sp, commands, demand, answer);
    return row;
  }

  /** A row per loop, in the agents' order; rows are moved only when the order changes (a moved input would lose its focus). */
  function renderControls(s) {
    lastState = s;
    if (operator.user === null) return;
    const keys = s.agents.map((a) => a.key);
    for (const [key, row] of controlRows) {
      if (!keys.includes(key)) { row.remove(); controlRows.delete(key); }
    }
    for (const a of s.agents) {
      if (!controlRows.has(a.key)) controlRows.set(a.key, makeControlRow(a.key));
      const row = controlRows.get(a.key);
      row.querySelector('[data-field=mode]').textContent = a.mode;
      row.querySelector('[data-field=setpoint]').textContent = a.setpoint === null ? '-' : String(a.setpoint);
    }
    const body = document.querySelector('#controls tbody');
    const order = [...body.children].map((r) => r.getAttribute('data-agent'));
    if (order.join('\n') !== keys.join('\n')) body.append(...keys.map((k) => controlRows.get(k)));
  }

  document.getElementById('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const error = document.getElementById('login-error');
    const password = document.getElementById('login-password');
    error.textContent = '';
    try {
      const r = await post('/api/login', { username: document.getElementById('login-user').value, password: password.value });
      password.value = '';
      if (r.status !== 200) { error.textContent = (r.data && r.data.error) || `log-in failed: HTTP ${r.status}`; return; }
      operator.user = r.data.user;
      renderOperator();
    } catch (err) {
      error.textContent = `log-in failed: ${err.message}`;
    }
  });

  document.getElementById('logout').addEventListener('click', async () => {
    try { await post('/api/logout', {}); } catch (err) { /* the session ends here either way */ }
    operator.user = null;
    renderOperator();
  });

  // ---- the loop ----

  async function poll() {
    const status = document.getElementById('status');
    try {
      const s = await getJson('/api/state');
      renderAgents(s);
      renderAlarms(s);
      renderRollout(s.rollout);
      renderStore(s.store);
      renderDecisions(s);
      renderCommands(s);
      renderControls(s);
      await updateCharts(s);
      polls++;
      status.className = '';
      status.setAttribute('data-polls', String(polls));
      status.textContent = `${s.agents.length} agents, updated ${clock(s.nowMs)}`;
    } catch (err) {
      // Shown on the page, not thrown: the next poll tries again.
      status.className = 'error';
      status.textContent = `update failed: ${err.message}; retrying`;
    }
    setTimeout(poll, POLL_MS);
  }

  window.addEventListener('resize', () => {
    for (const c of charts.values()) c.plot.setSize({ width: chartWidth(c.el), height: 220 });
  });
  loadSession().finally(poll);
})();
