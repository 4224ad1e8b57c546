#!/usr/bin/env node
// A plain Node.js byte pipe between a client and PostgreSQL: no parsing, no policy, no audit. `npm run
// bench` runs it as a fourth path to show the floor of any proxy written for Node.js on this machine,
// so tollgate's own cost can be told apart from the cost of the runtime's sockets.
// Usage: node scripts/node-pipe.mjs <listen port> <upstream host> <upstream port>
import { connect, createServer } from 'node:net';

const [listen, host, port] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
createServer((client) => {
  const upstream = connect(port, host);
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
}).listen(listen, '127.0.0.1');
