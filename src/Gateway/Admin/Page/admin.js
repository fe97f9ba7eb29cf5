'use strict';
// The gateway's admin page. Everything it does goes through the admin API (list, send, close) and the
// live feed (/admin/feed, server-sent events read with fetch so a bearer token can be sent). No
// framework, no build step: this file is served as is from the gateway binary.
(() => {
  const $ = (selector) => document.querySelector(selector);
  const api = { list: '/tapr/ws/conn/list', send: '/tapr/ws/conn/send', close: '/tapr/ws/conn/close' };
  const history = [];
  const maxPoints = 300;
  const largeRegistry = 5000;
  let rows = [];
  let page = 0;

  // ----- access: a token typed here is kept for this tab only and sent as a bearer token.
  const tokenInput = $('#token');
  tokenInput.value = sessionStorage.getItem('gateway-admin-token') || '';
  tokenInput.addEventListener('change', () => {
    sessionStorage.setItem('gateway-admin-token', tokenInput.value);
    refresh();
  });
  function headers(extra) {
    const h = Object.assign({}, extra);
    if (tokenInput.value) h.Authorization = 'Bearer ' + tokenInput.value;
    return h;
  }

  async function call(path, body) {
    const response = await fetch(path, body === undefined
      ? { headers: headers(), cache: 'no-store', credentials: 'same-origin' }
      : { method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body), credentials: 'same-origin' });
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    if (!response.ok) throw new Error(`HTTP ${response.status}${json && json.message ? ': ' + json.message : ''}`);
    return { text, json };
  }

  // ----- live figures
  const state = $('#feed-state');
  function setState(kind, text) {
    state.className = 'state ' + kind;
    state.textContent = text;
  }

  function formatNumber(value) {
    if (value === null || value === undefined) return '–';
    return Number.isInteger(value) ? value.toLocaleString('en') : value.toFixed(1);
  }

  function formatBytes(value) {
    if (value < 1024) return value + ' B';
    if (value < 1024 * 1024) return (value / 1024).toFixed(1) + ' KiB';
    return (value / 1024 / 1024).toFixed(1) + ' MiB';
  }

  function show(name, text) {
    const element = document.querySelector(`[data-figure="${name}"]`);
    if (element) element.textContent = text;
  }

  function onFigures(f) {
    show('connections', formatNumber(f.connections));
    show('connectionLimit', 'limit ' + formatNumber(f.connectionLimit));
    show('users', formatNumber(f.users));
    show('messagesInPerSecond', formatNumber(f.messagesInPerSecond));
    show('messagesOutPerSecond', formatNumber(f.messagesOutPerSecond));
    show('callbackPending', formatNumber(f.callbackPending));
    show('callbackInFlight', formatNumber(f.callbackInFlight) + ' in flight');
    show('callbackRetriesPerSecond', formatNumber(f.callbackRetriesPerSecond));
    show('inboundPendingBytes', formatBytes(f.inboundPendingBytes));
    show('slowConsumers', formatNumber(f.totals.slowConsumers));
    show('rejectedLimit', formatNumber(f.totals.rejectedLimit));
    show('rejectedOther', formatNumber(f.totals.rejectedOther) + ' refused otherwise');
    const codes = Object.entries(f.closedByCode).map(([code, count]) => `${code}: ${count}`);
    $('#closed-by-code').textContent = codes.length ? codes.join(' · ') : 'none yet';
    history.push(f);
    if (history.length > maxPoints) history.shift();
    draw();
    window.__lastFigures = f;
  }

  async function feed() {
    for (;;) {
      try {
        const response = await fetch('feed', { headers: headers(), cache: 'no-store', credentials: 'same-origin' });
        if (!response.ok) throw new Error('HTTP ' + response.status);
        setState('live', 'live');
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            for (const line of event.split('\n')) {
              if (line.startsWith('data: ')) onFigures(JSON.parse(line.slice(6)));
            }
          }
        }
        setState('down', 'feed ended; reconnecting');
      } catch (error) {
        setState('down', 'feed: ' + error.message);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  // ----- chart: each series on its own scale, newest on the right.
  const canvas = $('#chart');
  const series = [
    { key: (f) => f.connections || 0, color: '--accent' },
    { key: (f) => f.messagesInPerSecond, color: '--in' },
    { key: (f) => f.messagesOutPerSecond, color: '--out' },
    { key: (f) => f.callbackPending, color: '--backlog' },
  ];
  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth * ratio;
    const height = canvas.clientHeight * ratio;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, width, height);
    g.strokeStyle = '#e5e7eb';
    g.lineWidth = 1;
    for (let i = 1; i < 4; i++) {
      const y = Math.round((height * i) / 4) + 0.5;
      g.beginPath();
      g.moveTo(0, y);
      g.lineTo(width, y);
      g.stroke();
    }
    const styles = getComputedStyle(document.documentElement);
    const step = width / (maxPoints - 1);
    series.forEach((s, index) => {
      const values = history.map(s.key);
      const max = Math.max(1, ...values);
      document.querySelector(`[data-max="${index}"]`).textContent = `(max ${formatNumber(Math.max(0, ...values))})`;
      g.strokeStyle = styles.getPropertyValue(s.color).trim();
      g.lineWidth = 2 * ratio;
      g.beginPath();
      values.forEach((v, i) => {
        const x = width - (values.length - 1 - i) * step;
        const y = height - 4 * ratio - (v / max) * (height - 8 * ratio);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    });
  }

  // ----- connection table
  function flatten(list) {
    const result = [];
    for (const user of list.data || []) {
      for (const [conns, isPublic] of [[user.conns || [], false], [user.public_conns || [], true]]) {
        for (const c of conns) {
          result.push({ user: user.name, id: c.id, token: c.token, dialect: c.dialect || '', channels: c.channels || [], connectedAt: c.connected_at || '', userAgent: c.userAgent, isPublic });
        }
      }
    }
    result.sort((a, b) => (a.user === b.user ? b.connectedAt.localeCompare(a.connectedAt) : a.user.localeCompare(b.user)));
    return result;
  }

  function filtered() {
    const user = $('#filter-user').value.trim().toLowerCase();
    const channel = $('#filter-channel').value.trim();
    const dialect = $('#filter-dialect').value;
    const token = $('#filter-token').value.trim();
    return rows.filter((r) =>
      (!user || r.user.toLowerCase().includes(user)) &&
      (!channel || r.channels.some((c) => c.includes(channel))) &&
      (!dialect || r.dialect === dialect) &&
      (!token || r.token.includes(token)));
  }

  function cell(tr, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function button(label, action, handler, danger) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.action = action;
    if (danger) b.className = 'danger';
    b.addEventListener('click', handler);
    return b;
  }

  function render() {
    const matching = filtered();
    const size = Number($('#page-size').value);
    const pages = Math.max(1, Math.ceil(matching.length / size));
    page = Math.min(page, pages - 1);
    const body = $('#connections tbody');
    body.replaceChildren();
    for (const r of matching.slice(page * size, (page + 1) * size)) {
      const tr = document.createElement('tr');
      tr.dataset.connId = r.id;
      tr.dataset.user = r.user;
      cell(tr, r.user || '(none)');
      const id = cell(tr, '');
      const code = document.createElement('code');
      code.textContent = r.id;
      id.appendChild(code);
      cell(tr, r.dialect);
      cell(tr, r.channels.join(', '));
      cell(tr, r.isPublic ? 'yes' : 'no');
      cell(tr, r.connectedAt.replace('T', ' ').replace('Z', ''));
      const ua = cell(tr, r.userAgent, 'ua');
      ua.title = r.userAgent;
      const actions = cell(tr, '');
      actions.append(
        button('send', 'send', () => {
          $('#send-target').value = 'conn_id';
          $('#send-to').value = r.id;
          $('#send-payload').focus();
        }),
        ' ',
        button('close', 'close', () => closeTargets({ conns: [r.id] }, `connection ${r.id}`), true),
        ' ',
        button('close user', 'close-user', () => closeTargets({ users: [r.user] }, `every connection of user "${r.user}"`), true));
      body.appendChild(tr);
    }
    $('#conn-count').textContent = `${matching.length} shown of ${rows.length}`;
    $('#page-info').textContent = matching.length ? `${page * size + 1}–${Math.min((page + 1) * size, matching.length)} of ${matching.length} (page ${page + 1}/${pages})` : 'no connections';
    $('#prev-page').disabled = page === 0;
    $('#next-page').disabled = page >= pages - 1;
  }

  async function refresh() {
    try {
      const { json } = await call(api.list);
      rows = flatten(json);
      if (rows.length > largeRegistry && $('#auto-refresh').checked) {
        // The list API returns every connection: do not pull a large registry every 5 s.
        $('#auto-refresh').checked = false;
        $('#conn-count').title = `auto refresh turned off above ${largeRegistry} connections`;
      }
      render();
    } catch (error) {
      $('#conn-count').textContent = 'list failed: ' + error.message;
      $('#conn-count').className = 'muted error';
    }
  }

  for (const id of ['#filter-user', '#filter-channel', '#filter-token']) $(id).addEventListener('input', () => { page = 0; render(); });
  $('#filter-dialect').addEventListener('change', () => { page = 0; render(); });
  $('#page-size').addEventListener('change', () => { page = 0; render(); });
  $('#prev-page').addEventListener('click', () => { page--; render(); });
  $('#next-page').addEventListener('click', () => { page++; render(); });
  $('#refresh').addEventListener('click', refresh);
  setInterval(() => { if ($('#auto-refresh').checked) refresh(); }, 5000);

  // ----- send and close
  const list = (text) => text.split(',').map((t) => t.trim()).filter((t) => t.length > 0);

  $('#send-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const result = $('#send-result');
    let payload;
    try {
      payload = JSON.parse($('#send-payload').value);
    } catch (error) {
      result.textContent = 'payload is not JSON: ' + error.message;
      return;
    }
    const target = $('#send-target').value;
    const targets = list($('#send-to').value);
    const body = { payload };
    if (target === 'conn_id') body.conn_id = targets[0] || ''; else body[target] = targets;
    try {
      result.textContent = (await call(api.send, body)).text;
    } catch (error) {
      result.textContent = error.message;
    }
  });

  async function closeTargets(body, what) {
    if (!confirm(`Close ${what}?`)) return;
    const code = $('#close-code').value.trim();
    const reason = $('#close-reason').value.trim();
    if (code) body.code = Number(code);
    if (reason) body.reason = reason;
    const result = $('#close-result');
    try {
      result.textContent = (await call(api.close, body)).text;
    } catch (error) {
      result.textContent = error.message;
    }
    // The sockets close a moment after the API answers: look again shortly.
    await refresh();
    setTimeout(refresh, 1000);
  }

  $('#close-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const target = $('#close-target').value;
    const targets = list($('#close-to').value);
    if (targets.length === 0) {
      $('#close-result').textContent = 'name at least one target';
      return;
    }
    closeTargets({ [target]: targets }, `${target} ${targets.join(', ')}`);
  });

  window.addEventListener('resize', draw);
  refresh();
  feed();
})();
