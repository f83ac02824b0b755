/**
 * Module loader hooks (run on Node's hooks thread): append every module URL that gets loaded to the
 * file named in `data.out`, one per line. Registered by trace-modules.mjs.
 */
import { appendFileSync } from 'node:fs';

let out;

export function initialize(data) {
  out = data.out;
}

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  appendFileSync(out, `${url}\n`);
  return result;
}
