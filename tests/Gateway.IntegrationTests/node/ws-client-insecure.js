'use strict';
// ws-client.js for a server with a self-signed test certificate: the same JSON-lines protocol, but
// every client is opened with rejectUnauthorized:false. Nothing else differs, so a wss:// test drives
// exactly the client code a ws:// test does.
const WebSocket = require('ws');

class InsecureWebSocket extends WebSocket {
  constructor(address, protocols, options) {
    super(address, protocols, { ...options, rejectUnauthorized: false });
  }
}

require.cache[require.resolve('ws')].exports = InsecureWebSocket;
require('./ws-client.js');
