/**
 * A recording HTTP proxy put in front of the Atlas simulator by the benchmark: it forwards every
 * request unchanged and records when it arrived and when its answer was complete, so the benchmark
 * knows how long the server (simulated latency included) took for each call on the critical path.
 */
import { createServer, request as httpRequest } from 'node:http';

/**
 * @typedef {{ method: string, path: string, status: number, start: number, end: number }} Exchange
 * @returns {Promise<{ url: string, exchanges: Exchange[], close(): Promise<void> }>}
 */
export async function startRecorder(target) {
  const upstream = new URL(target);
  const exchanges = [];
  const server = createServer((req, res) => {
    const start = performance.now();
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => {
          exchanges.push({
            method: req.method ?? 'GET',
            path: new URL(req.url ?? '/', upstream).pathname,
            status: answer.statusCode ?? 0,
            start,
            end: performance.now(),
          });
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
