/**
 * A reverse proxy in front of the Atlas simulator for CLI tests: the CLI reaches it through
 * MONGODB_ATLAS_BASE_URL, as it would reach a corporate proxy. Every request is forwarded unchanged
 * (the Digest exchange included); a test can replace a successful answer with another status or body,
 * to show what the CLI does with an answer the simulator would never give.
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { listenLocal } from '../helpers/listen.js';

export interface Exchange {
  method: string;
  /** Path and query, as the CLI sent them. */
  url: string;
  /** The simulator's status. */
  status: number;
}

export interface Replacement {
  status?: number;
  /** The body sent instead of the simulator's ('' for none). */
  body?: string;
  headers?: Record<string, string>;
}

/** Decides, for each successful (2xx) answer, whether to replace it. */
export type Rewrite = (exchange: Exchange) => Replacement | undefined;

export interface AtlasProxy {
  url: string;
  /** Every exchange, in order, with the simulator's status. */
  log: Exchange[];
  rewrite: Rewrite | undefined;
  close(): Promise<void>;
}

export async function startAtlasProxy(target: string): Promise<AtlasProxy> {
  const upstream = new URL(target);
  const proxy: AtlasProxy = {
    url: '',
    log: [],
    rewrite: undefined,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const exchange = {
            method: req.method ?? '',
            url: req.url ?? '',
            status: answer.statusCode ?? 0,
          };
          proxy.log.push(exchange);
          const ok = exchange.status >= 200 && exchange.status < 300;
          const replacement = ok ? proxy.rewrite?.(exchange) : undefined;
          if (!replacement) {
            res.writeHead(exchange.status, answer.headers);
            res.end(Buffer.concat(chunks));
            return;
          }
          const body = replacement.body ?? '';
          res.writeHead(replacement.status ?? exchange.status, {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            ...replacement.headers,
          });
          res.end(body);
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  Object.assign(proxy, await listenLocal(server));
  return proxy;
}
