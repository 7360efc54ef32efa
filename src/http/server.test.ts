import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { proxyHeaders } from './server.ts';

const bounded = { timeout: 20_000 };

/** Send raw request heads to a node:http server; each request's `req` is handed to `seen`. */
async function withRequests(heads: string[], seen: (req: IncomingMessage) => void): Promise<void> {
  let left = heads.length;
  const server = createServer((req, res) => {
    seen(req);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    for (const head of heads) {
      const sock = connect(port, '127.0.0.1');
      await once(sock, 'connect');
      // A body of `{}`, framed by the head's own Content-Length or else chunked.
      const body = /content-length/i.test(head) ? '\r\n{}' : 'Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
      sock.end(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${head}${body}`);
      sock.resume();
      await once(sock, 'close');
      left--;
    }
  } finally {
    server.close();
  }
  assert.equal(left, 0);
}

test('proxyHeaders finds what req.headers would say of the four headers the proxy routes read', bounded, async () => {
  const heads = [
    'Authorization: Bearer sk-one\r\n',
    'authorization: Bearer sk-one\r\nAUTHORIZATION: Bearer sk-two\r\n', // a repeat: the first is kept
    'x-api-key: k1\r\nX-Api-Key: k2\r\n', // a repeat: joined
    'Content-Encoding: gzip\r\ncontent-encoding: br\r\n', // joined
    'X-API-KEY: only\r\nUser-Agent: OpenAI/JS 5.0\r\nX-Stainless-Lang: js\r\nAccept: application/json\r\n',
    'Authorizatio: almost\r\nx-api-keys: almost\r\nContent-Encodings: almost\r\n', // near misses
    'CONTENT-LENGTH: 2\r\nAuthorization: Bearer sk-three\r\n',
    '',
  ];
  let n = 0;
  await withRequests(heads, (req) => {
    const mine = proxyHeaders(req.rawHeaders);
    const theirs = req.headers;
    for (const name of ['authorization', 'x-api-key', 'content-encoding', 'content-length'] as const) {
      assert.deepEqual(mine[name], theirs[name], `${name} in ${JSON.stringify(heads[n])}`);
    }
    n++;
  });
  assert.equal(n, heads.length);
  // A declared length, as sent.
  assert.deepEqual(proxyHeaders(['Content-Length', '12', 'content-length', '13']), { 'content-length': '12' });
});
