/** Runs the built CLI in a pseudo-terminal, so prompts and spinners appear as they do for a person. */
import { readFileSync } from 'node:fs';
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

/** True while the process exists (a zombie included). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True while the process exists and is not a zombie (an orphan's reaper may be slow to collect it). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return alive(pid);
  }
}
