'use strict';
// Drives clients of the npm `ws` library (the one Olares apps use) for the integration tests.
// Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout:
//   {"op":"open","id":"c1","url":"ws://...","headers":{...},"protocols":["a"]}
//       -> {"event":"open","id":"c1","protocol":"a"}   or  {"event":"error",...} then {"event":"close",...}
//   {"op":"send","id":"c1","seq":7,"text":"..."} | {"op":"send","id":"c1","seq":7,"binary":"<base64>"}
//       -> {"event":"sent","id":"c1","seq":7,"error":null}
//   {"op":"close","id":"c1","code":1000,"reason":"bye"}   (the close handshake, from the client)
//   {"op":"send-close","id":"c1","text":"...","code":1000} (ws.send then ws.close in the same tick)
//   {"op":"terminate","id":"c1"}                          (drop the TCP connection, no close frame)
//   {"op":"ping","id":"c1"}                               (a protocol ping; the answer is {"event":"pong"})
// Events: {"event":"message","id","type":"text"|"binary","data":<text or base64>},
//         {"event":"close","id","code","reason"}, {"event":"error","id","message"}, {"event":"pong","id"}.
const readline = require('readline');
const WebSocket = require('ws');

const sockets = new Map();

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function open(command) {
  const { id } = command;
  const ws = new WebSocket(command.url, command.protocols || [], {
    headers: command.headers || {},
    perMessageDeflate: false,
    handshakeTimeout: 10000,
  });
  sockets.set(id, ws);
  ws.on('open', () => emit({ event: 'open', id, protocol: ws.protocol }));
  ws.on('message', (data, isBinary) => emit({
    event: 'message',
    id,
    type: isBinary ? 'binary' : 'text',
    data: isBinary ? Buffer.from(data).toString('base64') : data.toString('utf8'),
  }));
  ws.on('pong', () => emit({ event: 'pong', id }));
  ws.on('error', (error) => emit({ event: 'error', id, message: error.message }));
  ws.on('close', (code, reason) => {
    sockets.delete(id);
    emit({ event: 'close', id, code, reason: reason.toString('utf8') });
  });
}

function handle(command) {
  if (command.op === 'open') {
    open(command);
    return;
  }

  const ws = sockets.get(command.id);
  if (!ws) {
    emit({ event: 'error', id: command.id, seq: command.seq, message: `no open socket ${command.id}` });
    return;
  }

  switch (command.op) {
    case 'send': {
      const binary = command.binary !== undefined;
      const data = binary ? Buffer.from(command.binary, 'base64') : command.text;
      ws.send(data, { binary }, (error) => emit({ event: 'sent', id: command.id, seq: command.seq, error: error ? error.message : null }));
      break;
    }
    case 'close':
      ws.close(command.code, command.reason);
      break;
    case 'send-close':
      ws.send(command.text);
      ws.close(command.code, command.reason);
      break;
    case 'terminate':
      ws.terminate();
      break;
    case 'ping':
      ws.ping();
      break;
    default:
      emit({ event: 'error', id: command.id, message: `unknown op ${command.op}` });
  }
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === '') {
    return;
  }

  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    emit({ event: 'error', message: `bad command: ${error.message}` });
    return;
  }

  try {
    handle(command);
  } catch (error) {
    emit({ event: 'error', id: command.id, seq: command.seq, message: error.message });
  }
});
input.on('close', () => {
  for (const ws of sockets.values()) {
    ws.terminate();
  }
  process.exit(0);
});
emit({ event: 'ready' });
