'use strict';
// A TAPR gateway as a user could write it by hand on the npm `ws` library: the benchmark's peer
// (`--peer ws`). It has the surface the benchmark drives (docs/PROTOCOL.md sections 2 to 4): the
// client endpoint /ws with the user from a header, JSON ping/pong, open/message/close callbacks to
// the app in order per connection, and the admin API send/close/list. Nothing from the gateway is
// reused. Environment: GATEWAY_CALLBACK_URL (no callbacks when unset), GATEWAY_PORT (0: any free
// port), GATEWAY_USER_HEADER (X-Bfl-User), GATEWAY_PING_TIMEOUT_MS (45000). It prints
// "Now listening on: http://127.0.0.1:<port>" once listening, and ends on SIGTERM.
const http = require('node:http');
const crypto = require('node:crypto');
const { WebSocketServer, WebSocket } = require('ws');

const callbackUrl = process.env.GATEWAY_CALLBACK_URL ? new URL(process.env.GATEWAY_CALLBACK_URL) : null;
const userHeader = (process.env.GATEWAY_USER_HEADER || 'X-Bfl-User').toLowerCase();
const pingTimeoutMs = Number(process.env.GATEWAY_PING_TIMEOUT_MS || 45000);
// The gateway's default: at most 128 callback requests in flight across connections.
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

const conns = new Map(); // conn_id -> connection
const byUser = new Map(); // user -> Set of connections
let closedTotal = 0;

const md5 = (text) => crypto.createHash('md5').update(text).digest('hex');

function cookieValue(header, name) {
  for (const part of (header || '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function post(body, cookie) {
  return new Promise((resolve) => {
    const request = http.request(callbackUrl, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), cookie },
    }, (response) => { response.resume(); response.on('end', resolve); response.on('error', resolve); });
    request.setTimeout(30000, () => request.destroy());
    request.on('error', resolve); // Olares' rule: a failed callback is dropped, never retried.
    request.end(body);
  });
}

// Callbacks of one connection are chained, so the app sees open, its messages in order, then close.
function callback(conn, action, data) {
  if (!callbackUrl) return;
  const body = `{"data":${data},"action":"${action}","user_name":${JSON.stringify(conn.user)},"conn_id":"${conn.id}",`
    + `"token":${JSON.stringify(conn.token)},"access_public":${conn.isPublic}}`;
  conn.chain = conn.chain.then(() => post(body, conn.cookie));
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });

wss.on('connection', (ws, request) => {
  const cookie = request.headers.cookie || '';
  const authToken = cookieValue(cookie, 'auth_token');
  const conn = {
    id: crypto.randomUUID(),
    user: request.headers[userHeader] || '',
    token: authToken || crypto.randomUUID(),
    isPublic: !authToken,
    cookie,
    userAgent: request.headers['user-agent'] || '',
    ws,
    seen: Date.now(),
    chain: Promise.resolve(),
  };
  conn.tokenHash = md5(conn.token);
  conns.set(conn.id, conn);
  let users = byUser.get(conn.user);
  if (!users) byUser.set(conn.user, (users = new Set()));
  users.add(conn);
  callback(conn, 'open', '{}');

  ws.on('message', (data) => {
    conn.seen = Date.now();
    const text = data.toString();
    let value;
    try { value = JSON.parse(text); } catch { value = undefined; }
    const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
    if (isObject && value.event === 'ping') ws.send('{"event":"pong"}');
    else callback(conn, 'message', isObject ? text : '{}');
  });
  ws.on('close', () => {
    conns.delete(conn.id);
    users.delete(conn);
    if (users.size === 0) byUser.delete(conn.user);
    closedTotal++;
    callback(conn, 'close', '{}');
  });
  ws.on('error', () => {}); // 'close' follows.
});

// A connection with no frame for longer than the ping timeout is closed with 4000.
setInterval(() => {
  const limit = Date.now() - pingTimeoutMs;
  for (const conn of conns.values()) if (conn.seen < limit) conn.ws.close(4000, 'ping timeout');
}, 1000).unref();

// The admin filters (section 4): the intersection of conn_id, users, tokens and users_access_type.
function select(filter, ids) {
  const users = Array.isArray(filter.users) && filter.users.length ? new Set(filter.users.map(String)) : null;
  const tokens = Array.isArray(filter.tokens) && filter.tokens.length ? new Set(filter.tokens) : null;
  const access = users ? Number(filter.users_access_type || 0) : 0;
  const keep = (c) => (!users || users.has(c.user)) && (!tokens || tokens.has(c.tokenHash))
    && (access === 0 || (access === 1 ? !c.isPublic : c.isPublic));
  const targets = [];
  if (ids) for (const id of ids) { const c = conns.get(id); if (c && keep(c)) targets.push(c); }
  else if (users) for (const u of users) for (const c of byUser.get(u) || []) { if (keep(c)) targets.push(c); }
  else for (const c of conns.values()) if (keep(c)) targets.push(c);
  return targets;
}

function lowerKeys(object) {
  const result = {};
  for (const [key, value] of Object.entries(object)) result[key.toLowerCase()] = value;
  return result;
}

const reply = (response, value) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(value));
};

function admin(request, response, body) {
  const path = request.url.split('?')[0];
  if (request.method === 'GET' && path === '/healthz') return response.end('ok');
  if (request.method === 'GET' && path === '/metrics') {
    return response.end(`gateway_connection_active ${conns.size}\ngateway_connection_closed_total ${closedTotal}\n`);
  }
  if (request.method === 'GET' && path === '/tapr/ws/conn/list') {
    const data = [...byUser].map(([name, set]) => {
      const shape = (c) => ({ id: c.id, token: c.token, userAgent: c.userAgent, userAgentTag: c.userAgent ? md5(c.userAgent) : '' });
      const all = [...set];
      const own = all.filter((c) => !c.isPublic).map(shape);
      const pub = all.filter((c) => c.isPublic).map(shape);
      return { conns: own, conns_number: own.length, name, public_conns: pub, public_conns_number: pub.length };
    });
    return reply(response, { code: 0, data, message: 'success' });
  }
  if (request.method !== 'POST') { response.writeHead(404); return response.end(); }
  if (path === '/tapr/ws/conn/debug') return reply(response, { code: 0, message: 'success' });
  let filter;
  try {
    filter = lowerKeys(JSON.parse(body));
  } catch (error) {
    const what = path.endsWith('/send') ? 'send data invalid' : 'receive data invalid';
    return reply(response, { code: 400, message: `${what}, ${error.message}` });
  }
  if (path === '/tapr/ws/conn/send') {
    const ids = filter.conn_id ? [String(filter.conn_id)] : null;
    if (!ids && !filter.users?.length && !filter.tokens?.length) return reply(response, { code: 400, message: 'send message target is nil' });
    const targets = select(filter, ids);
    const frame = JSON.stringify(filter.payload === undefined ? null : filter.payload);
    let enqueued = 0;
    for (const c of targets) {
      if (c.ws.readyState === WebSocket.OPEN) { c.ws.send(frame); enqueued++; }
    }
    return reply(response, { code: 0, data: { matched: targets.length, enqueued, dropped: targets.length - enqueued }, message: 'success' });
  }
  if (path === '/tapr/ws/conn/close') {
    const ids = Array.isArray(filter.conns) && filter.conns.length ? filter.conns.map(String) : null;
    if (!ids && !filter.users?.length && !filter.tokens?.length && filter.all !== true) return reply(response, { code: 400, message: 'close target is nil' });
    for (const c of select(filter, ids)) c.ws.close(Number(filter.code) || 1000, String(filter.reason || ''));
    return reply(response, { code: 0, message: 'success' });
  }
  response.writeHead(404);
  return response.end();
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => admin(request, response, Buffer.concat(chunks).toString()));
});
server.keepAliveTimeout = 60000;

server.on('upgrade', (request, socket, head) => {
  const path = request.url.split('?')[0];
  if (path !== '/ws' && path !== '/ws/') {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});

server.listen(Number(process.env.GATEWAY_PORT || 0), '127.0.0.1', () => {
  console.log(`Now listening on: http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
