// A TAPR gateway as a user could write it by hand on Bun's built-in server (uWebSockets underneath):
// the benchmark's peer (`--peer bun`). The same surface as ws-gateway.js (docs/PROTOCOL.md sections
// 2 to 4): /ws with the user from a header, JSON ping/pong, open/message/close callbacks in order per
// connection, the admin API send/close/list. Each connection subscribes to its user's topic, so a
// send to users is one server.publish per user. Environment and output as in ws-gateway.js.
const callbackUrl = process.env.GATEWAY_CALLBACK_URL || null;
const userHeader = process.env.GATEWAY_USER_HEADER || 'X-Bfl-User';
const pingTimeoutMs = Number(process.env.GATEWAY_PING_TIMEOUT_MS || 45000);

const conns = new Map(); // conn_id -> connection
const byUser = new Map(); // user -> Set of connections
let closedTotal = 0;

const md5 = (text) => new Bun.CryptoHasher('md5').update(text).digest('hex');
const topic = (user) => 'u:' + user;

function cookieValue(header, name) {
  for (const part of (header || '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

// Callbacks of one connection are chained, so the app sees open, its messages in order, then close.
// Olares' rule: a failed callback is dropped, never retried.
function callback(conn, action, data) {
  if (!callbackUrl) return;
  const body = `{"data":${data},"action":"${action}","user_name":${JSON.stringify(conn.user)},"conn_id":"${conn.id}",`
    + `"token":${JSON.stringify(conn.token)},"access_public":${conn.isPublic}}`;
  conn.chain = conn.chain.then(() => fetch(callbackUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: conn.cookie },
    body,
    signal: AbortSignal.timeout(30000),
  }).then((response) => response.arrayBuffer()).catch(() => {}));
}

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

const reply = (value) => Response.json(value);

function send(filter) {
  const ids = filter.conn_id ? [String(filter.conn_id)] : null;
  if (!ids && !filter.users?.length && !filter.tokens?.length) return reply({ code: 400, message: 'send message target is nil' });
  const frame = JSON.stringify(filter.payload === undefined ? null : filter.payload);
  let matched = 0;
  let enqueued = 0;
  if (!ids && !filter.tokens?.length && !Number(filter.users_access_type || 0)) {
    // Users only: one publish per user reaches each of its connections once.
    for (const user of new Set(filter.users.map(String))) {
      const count = byUser.get(user)?.size || 0;
      if (count === 0) continue;
      matched += count;
      if (server.publish(topic(user), frame) !== 0) enqueued += count; // 0: dropped
    }
  } else {
    for (const c of select(filter, ids)) {
      matched++;
      if (c.ws.send(frame) !== 0) enqueued++;
    }
  }
  return reply({ code: 0, data: { matched, enqueued, dropped: matched - enqueued }, message: 'success' });
}

function close(filter) {
  const ids = Array.isArray(filter.conns) && filter.conns.length ? filter.conns.map(String) : null;
  if (!ids && !filter.users?.length && !filter.tokens?.length && filter.all !== true) return reply({ code: 400, message: 'close target is nil' });
  for (const c of select(filter, ids)) c.ws.close(Number(filter.code) || 1000, String(filter.reason || ''));
  return reply({ code: 0, message: 'success' });
}

function list() {
  const shape = (c) => ({ id: c.id, token: c.token, userAgent: c.userAgent, userAgentTag: c.userAgent ? md5(c.userAgent) : '' });
  const data = [...byUser].map(([name, set]) => {
    const all = [...set];
    const own = all.filter((c) => !c.isPublic).map(shape);
    const pub = all.filter((c) => c.isPublic).map(shape);
    return { conns: own, conns_number: own.length, name, public_conns: pub, public_conns_number: pub.length };
  });
  return reply({ code: 0, data, message: 'success' });
}

async function admin(request, path) {
  if (request.method === 'GET' && path === '/healthz') return new Response('ok');
  if (request.method === 'GET' && path === '/metrics') {
    return new Response(`gateway_connection_active ${conns.size}\ngateway_connection_closed_total ${closedTotal}\n`);
  }
  if (request.method === 'GET' && path === '/tapr/ws/conn/list') return list();
  if (request.method !== 'POST') return new Response(null, { status: 404 });
  if (path === '/tapr/ws/conn/debug') return reply({ code: 0, message: 'success' });
  if (path !== '/tapr/ws/conn/send' && path !== '/tapr/ws/conn/close') return new Response(null, { status: 404 });
  let filter;
  try {
    filter = lowerKeys(JSON.parse(await request.text()));
  } catch (error) {
    return reply({ code: 400, message: `${path.endsWith('/send') ? 'send data invalid' : 'receive data invalid'}, ${error.message}` });
  }
  return path.endsWith('/send') ? send(filter) : close(filter);
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.GATEWAY_PORT || 0),
  fetch(request, server) {
    const path = new URL(request.url).pathname;
    if (path !== '/ws' && path !== '/ws/') return admin(request, path);
    const cookie = request.headers.get('cookie') || '';
    const authToken = cookieValue(cookie, 'auth_token');
    const data = {
      id: crypto.randomUUID(),
      user: request.headers.get(userHeader) || '',
      token: authToken || crypto.randomUUID(),
      isPublic: !authToken,
      cookie,
      userAgent: request.headers.get('user-agent') || '',
      seen: Date.now(),
      chain: Promise.resolve(),
    };
    data.tokenHash = md5(data.token);
    return server.upgrade(request, { data }) ? undefined : new Response('Upgrade Required', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 1024 * 1024,
    open(ws) {
      const conn = ws.data;
      conn.ws = ws;
      conns.set(conn.id, conn);
      let users = byUser.get(conn.user);
      if (!users) byUser.set(conn.user, (users = new Set()));
      users.add(conn);
      ws.subscribe(topic(conn.user));
      callback(conn, 'open', '{}');
    },
    message(ws, message) {
      const conn = ws.data;
      conn.seen = Date.now();
      const text = typeof message === 'string' ? message : message.toString();
      let value;
      try { value = JSON.parse(text); } catch { value = undefined; }
      const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
      if (isObject && value.event === 'ping') ws.send('{"event":"pong"}');
      else callback(conn, 'message', isObject ? text : '{}');
    },
    close(ws) {
      const conn = ws.data;
      conns.delete(conn.id);
      const users = byUser.get(conn.user);
      users.delete(conn);
      if (users.size === 0) byUser.delete(conn.user);
      closedTotal++;
      callback(conn, 'close', '{}');
    },
  },
});

// A connection with no frame for longer than the ping timeout is closed with 4000.
setInterval(() => {
  const limit = Date.now() - pingTimeoutMs;
  for (const conn of conns.values()) if (conn.seen < limit) conn.ws.close(4000, 'ping timeout');
}, 1000).unref();

console.log(`Now listening on: http://127.0.0.1:${server.port}`);
process.on('SIGTERM', () => process.exit(0));
