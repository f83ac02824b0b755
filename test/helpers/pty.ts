/** Runs the built CLI in a pseudo-terminal, so prompts and spinners appear as they do for a person. */
import { CLI, cleanEnv } from './cli.js';

export interface Terminal {
  /** Resolves once the screen so far (escape sequences removed) contains the text. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  type(keys: string): void;
  /** The exit code, once the program ends. */
  exited: Promise<number>;
  /** Everything shown so far, escape sequences removed. */
  output(): string;
  kill(): void;
  /** The program's process id. */
  pid: number;
}

export const ENTER = '\r';
export const DOWN = '\x1b[B';

export async function startTerminal(
  args: string[],
  env: Record<string, string>,
): Promise<Terminal> {
  const pty = await import('node-pty');
  const term = pty.spawn(process.execPath, [CLI, ...args], {
    name: 'xterm-256color',
    cols: 160,
    rows: 50,
    env: cleanEnv({ ...env, TERM: 'xterm-256color' }),
  });
  let screen = '';
  const waiters: Array<() => void> = [];
  term.onData((data) => {
    screen += data;
    for (const check of waiters.splice(0)) check();
  });
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
  const output = () => screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  return {
    output,
    type: (keys) => term.write(keys),
    exited,
    kill: () => term.kill(),
    pid: term.pid,
    waitFor(text, timeoutMs = 30_000) {
      const matches = () =>
        typeof text === 'string' ? output().includes(text) : text.test(output());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`timed out waiting for ${String(text)}; screen:\n${output().slice(-3000)}`),
            ),
          timeoutMs,
        );
        const check = () => {
          if (matches()) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}
