/**
 * A plain-HTTP reverse proxy in front of the sandbox's moto: the CLI reaches it through
 * AWS_ENDPOINT_URL_S3 (or _IAM), as it would reach an S3-compatible gateway or a corporate proxy. Every request is forwarded
 * unchanged unless the test's `intercept` answers it itself (a 503), or runs something before the
 * request goes on or before its answer goes back (another party's create, at a chosen moment).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { listenLocal } from '../helpers/listen.js';

export interface AwsExchange {
  method: string;
  /** Path and query, as the CLI sent them (path-style: /<bucket>?<subresource>). */
  url: string;
  /** The request body (IAM's are form-encoded: Action=CreateRole&...). */
  body: string;
}

export interface Interception {
  /** Answer with this status (and an S3 error body) instead of forwarding. */
  status?: number;
  /** Runs before the request is forwarded. */
  before?: () => Promise<void>;
  /** Runs after moto answered, before the answer goes back to the CLI. */
  after?: (status: number) => Promise<void>;
  /** Drops the connection instead of passing moto's answer on (moto has handled the request). */
  drop?: boolean;
}

export interface AwsProxy {
  url: string;
  log: AwsExchange[];
  intercept: ((exchange: AwsExchange) => Interception | undefined) | undefined;
  close(): Promise<void>;
}

export async function startAwsProxy(env: Record<string, string>): Promise<AwsProxy> {
  const upstream = new URL(env.AWS_ENDPOINT_URL!);
  const ca = readFileSync(env.AWS_CA_BUNDLE!);
  const proxy: AwsProxy = { url: '', log: [], intercept: undefined, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const exchange = { method: req.method ?? '', url: req.url ?? '', body: body.toString() };
        proxy.log.push(exchange);
        const plan = proxy.intercept?.(exchange);
        if (plan?.status) {
          res.writeHead(plan.status, { 'content-type': 'application/xml' });
          res.end(
            `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Injected by the test proxy</Message></Error>`,
          );
          return;
        }
        await plan?.before?.();
        const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
        const forward = request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers,
            ca,
          },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => body.push(chunk));
            answer.on('end', () => {
              void (async () => {
                await plan?.after?.(answer.statusCode ?? 0);
                if (plan?.drop) {
                  res.socket?.destroy();
                  return;
                }
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                res.end(Buffer.concat(body));
              })();
            });
          },
        );
        forward.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        forward.end(body);
      })();
    });
  });
  Object.assign(proxy, await listenLocal(server));
  return proxy;
}

/** Whether an exchange is CreateBucket of `bucket` (PUT /<bucket>, no subresource). */
export function isCreateBucket(exchange: AwsExchange, bucket: string): boolean {
  const [path = '', query = ''] = exchange.url.split('?');
  return (
    exchange.method === 'PUT' &&
    path.replace(/\/$/, '') === `/${bucket}` &&
    /^(x-id=CreateBucket)?$/.test(query)
  );
}

/** Whether an exchange is HeadBucket of `bucket`. */
export function isHeadBucket(exchange: AwsExchange, bucket: string): boolean {
  return (
    exchange.method === 'HEAD' && exchange.url.split('?')[0]!.replace(/\/$/, '') === `/${bucket}`
  );
}
