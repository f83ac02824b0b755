/**
 * The only module that writes to the terminal. Results go to stdout (one JSON document with --json);
 * everything meant for people (progress, warnings, errors, debug traces) goes to stderr. Every line
 * passes through `redact`, so no registered secret is ever printed.
 */
import { styleText } from 'node:util';
import type { Ora } from 'ora';
import { AbortError } from './errors.js';
import { redact } from './secrets.js';

export interface Spinner {
  /** Updates the text shown next to the spinner. */
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  /** Ends the spinner with a neutral mark (skipped, adopted, nothing to do). */
  info(text?: string): void;
  warn(text?: string): void;
}

export interface OutputOptions {
  json?: boolean;
  debug?: boolean;
  /** Whether stderr is an interactive terminal; decides between animated spinners and plain lines. */
  interactive?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/**
 * Whether the environment says this is a CI run: CI set to anything but "", "false" or "0" (some
 * runners and users set CI=false to say the opposite).
 */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

function paint(color: 'green' | 'red' | 'blue' | 'yellow', text: string): string {
  return styleText(color, text);
}

export class Output {
  readonly json: boolean;
  readonly debugEnabled: boolean;
  readonly interactive: boolean;
  /** Whether stdout is a terminal (not redirected to a file or a pipe). */
  readonly stdoutIsTerminal: boolean;
  private readonly stdout: NodeJS.WritableStream;
  private readonly stderr: NodeJS.WritableStream;
  private board: { ora: Ora; tasks: Map<number, string> } | undefined;
  private nextTaskId = 0;

  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.debugEnabled = options.debug ?? false;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.interactive =
      options.interactive ?? Boolean((this.stderr as NodeJS.WriteStream).isTTY && !isCi());
    this.stdoutIsTerminal = Boolean((this.stdout as NodeJS.WriteStream).isTTY);
  }

  /** A line for people, on stderr. */
  info(message: string): void {
    this.line(message);
  }

  warn(message: string): void {
    this.line(`warning: ${message}`);
  }

  error(message: string): void {
    this.line(`error: ${message}`);
  }

  /** A trace line shown only with --debug. */
  debug(message: string): void {
    if (this.debugEnabled) this.line(`debug: ${message}`);
  }

  /** Plain result text on stdout (not used with --json). */
  result(text: string): void {
    if (!this.json) this.stdout.write(`${redact(text)}\n`);
  }

  /** Whether the run's JSON document was printed already (the error boundary then prints none). */
  jsonPrinted = false;

  /** The single machine-readable document of a --json run, on stdout. */
  printJson(value: unknown): void {
    this.jsonPrinted = true;
    this.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
  }

  /**
   * Starts a progress line. On a terminal all live progress lines share one animated ora spinner
   * (loaded on first use), so steps running at the same time do not overwrite each other; a finished
   * line is printed above the live ones. Without a terminal, a line is printed at the start and one
   * at the end.
   */
  async spinner(text: string): Promise<Spinner> {
    if (!this.interactive) return this.plainSpinner(text);
    if (!this.board) {
      const { default: ora } = await import('ora');
      this.board ??= {
        ora: ora({
          stream: this.stderr as NodeJS.WriteStream,
          // Leave the terminal's input alone: in raw mode a Ctrl-C typed during a wait is a byte, not SIGINT.
          discardStdin: false,
        }),
        tasks: new Map(),
      };
    }
    const board = this.board;
    const id = (this.nextTaskId += 1);
    board.tasks.set(id, redact(text));
    this.renderBoard();
    let ended = false;
    const end = (mark: string) => (final?: string) => {
      if (ended) return;
      ended = true;
      const last = board.tasks.get(id) ?? text;
      board.tasks.delete(id);
      board.ora.clear();
      this.stderr.write(`${mark} ${redact(final ?? last)}\n`);
      this.renderBoard();
    };
    return {
      update: (next) => {
        if (ended) return;
        board.tasks.set(id, redact(next));
        this.renderBoard();
      },
      succeed: end(paint('green', '✔')),
      fail: end(paint('red', '✖')),
      info: end(paint('blue', 'ℹ')),
      warn: end(paint('yellow', '⚠')),
    };
  }

  private renderBoard(): void {
    const board = this.board;
    if (!board) return;
    if (board.tasks.size === 0) {
      board.ora.stop();
      return;
    }
    board.ora.text = [...board.tasks.values()].join('\n  ');
    if (!board.ora.isSpinning) board.ora.start();
  }

  private plainSpinner(text: string): Spinner {
    let ended = false;
    let current = text;
    this.line(`… ${text}`);
    const end = (mark: string) => (final?: string) => {
      if (ended) return;
      ended = true;
      this.line(`${mark} ${final ?? current}`);
    };
    return {
      update: (next) => {
        current = next;
      },
      succeed: end('✔'),
      fail: end('✖'),
      info: end('ℹ'),
      warn: end('⚠'),
    };
  }

  private line(message: string): void {
    this.board?.ora.clear();
    this.stderr.write(`${redact(message)}\n`);
    if (this.board?.ora.isSpinning) this.board.ora.render();
  }
}

/** Plain-text columns: each as wide as its widest cell, two spaces apart, no trailing blanks. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `1 statement`, `3 statements` (or the plural given): a count with its noun in the right number. */
export function counted(count: number, singular: string, plural = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : plural}`;
}

/**
 * Asks a yes/no question on stderr (stdout stays for results). No, or Ctrl-C at the prompt, stops the
 * command before any change with `stop` (exit 130): what was not done, and what to do next.
 */
export async function confirmOrStop(
  question: { message: string; default: boolean },
  stop: { message: string; hint: string },
): Promise<void> {
  const { confirm } = await import('@inquirer/prompts');
  const go = await confirm(question, { output: process.stderr });
  if (!go) throw new AbortError(stop.message, stop.hint);
}
