/**
 * Preload (`node --import ./bench/trace-modules.mjs ...`) that records which modules a process
 * loads, into the file named by ATLAS_PL_EXPORT_TRACE_MODULES: ES modules through a loader hook,
 * and CommonJS modules (which `require` loads without the hooks) from the require cache at exit.
 * Used by the start-up test and `npm run bench`; never loaded by the tool itself.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const out = process.env.ATLAS_PL_EXPORT_TRACE_MODULES;
if (out) {
  register('./trace-hooks.mjs', import.meta.url, { data: { out } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    const files = Object.keys(cache).map((file) => pathToFileURL(file).href);
    if (files.length > 0) appendFileSync(out, `${files.join('\n')}\n`);
  });
}
