/** Atlas's error body ({error, errorCode, detail, reason, parameters}) and the pagination envelope. */
import { randomBytes } from 'node:crypto';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface ApiErrorBody {
  error: number;
  errorCode: string;
  detail: string;
  reason: string;
  parameters: unknown[];
}

/** Thrown by handlers; the server turns it into the JSON error answer. */
export class SimApiError {
  readonly body: ApiErrorBody;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    errorCode: string,
    detail: string,
    parameters: unknown[] = [],
    headers: Record<string, string> = {},
  ) {
    this.body = {
      error: status,
      errorCode,
      detail,
      reason: REASONS[status] ?? 'Error',
      parameters,
    };
    this.headers = headers;
  }

  get status(): number {
    return this.body.error;
  }
}

export function apiError(
  status: number,
  errorCode: string,
  detail: string,
  parameters: unknown[] = [],
): SimApiError {
  return new SimApiError(status, errorCode, detail, parameters);
}

export function newId(): string {
  return randomBytes(12).toString('hex');
}

export const HEX24 = /^[a-f0-9]{24}$/;

export interface PageParams {
  itemsPerPage: number;
  pageNum: number;
  includeCount: boolean;
}

function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || value < min || value > max) {
    throw apiError(
      400,
      'INVALID_QUERY_PARAMETER',
      `Invalid value ${raw} for query parameter ${name}: must be an integer from ${min} to ${max}.`,
      [name, raw],
    );
  }
  return value;
}

export function pageParams(query: URLSearchParams): PageParams {
  const itemsPerPage = intParam(query, 'itemsPerPage', 100, 1, 500);
  const pageNum = intParam(query, 'pageNum', 1, 1, Number.MAX_SAFE_INTEGER);
  const rawCount = query.get('includeCount');
  if (rawCount !== null && rawCount !== 'true' && rawCount !== 'false') {
    throw apiError(
      400,
      'INVALID_QUERY_PARAMETER',
      `Invalid value ${rawCount} for query parameter includeCount: must be true or false.`,
      ['includeCount', rawCount],
    );
  }
  return { itemsPerPage, pageNum, includeCount: rawCount !== 'false' };
}

/** Builds {results, totalCount, links} for one page; links carry self, and next/previous where they exist. */
export function paginate<T>(
  items: T[],
  query: URLSearchParams,
  selfUrl: string,
): Record<string, unknown> {
  const page = pageParams(query);
  const start = (page.pageNum - 1) * page.itemsPerPage;
  const results = items.slice(start, start + page.itemsPerPage);
  const link = (pageNum: number, rel: string) => {
    const q = new URLSearchParams(query);
    q.set('pageNum', String(pageNum));
    q.set('itemsPerPage', String(page.itemsPerPage));
    return { href: `${selfUrl}?${q.toString()}`, rel };
  };
  const links = [link(page.pageNum, 'self')];
  if (page.pageNum > 1) links.push(link(page.pageNum - 1, 'previous'));
  if (start + page.itemsPerPage < items.length) links.push(link(page.pageNum + 1, 'next'));
  return { links, results, ...(page.includeCount ? { totalCount: items.length } : {}) };
}
