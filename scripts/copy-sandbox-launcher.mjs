// Copies the sandbox's Python launcher for moto (src/sandbox/moto_server.py) next to the compiled
// dist/sandbox/moto.js, which starts it from its own directory: the npm package ships dist, not src.
// Run by `npm run build`.
import { copyFileSync, mkdirSync } from 'node:fs';

const target = new URL('../dist/sandbox/', import.meta.url);
mkdirSync(target, { recursive: true });
copyFileSync(
  new URL('../src/sandbox/moto_server.py', import.meta.url),
  new URL('moto_server.py', target),
);
