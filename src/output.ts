/**
 * The only module that writes to the terminal. Results go to stdout (one JSON document with --json);
 * everything meant for people (progress, warnings, errors, debug traces) goes to stderr. Every line
 * passes through `redact`, so no registered secret is ever printed.
 */
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

type OraModule = typeof import('ora');

export class Output {
  readonly json: boolean;
  readonly debugEnabled: boolean;
  readonly interactive: boolean;
  private readonly stdout: NodeJS.WritableStream;
  private readonly stderr: NodeJS.WritableStream;
  private ora: OraModule | undefined;
  private activeSpinners = 0;

  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.debugEnabled = options.debug ?? false;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.interactive =
      options.interactive ?? Boolean((this.stderr as NodeJS.WriteStream).isTTY && !process.env.CI);
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

  /** The single machine-readable document of a --json run, on stdout. */
  printJson(value: unknown): void {
    this.stdout.write(`${redact(JSON.stringify(value, null, 2))}\n`);
  }

  /**
   * Loads ora only when a spinner is first needed (it is not needed for --help or --json runs).
   * Without a TTY, a spinner prints one line when it starts and one when it ends.
   */
  async spinner(text: string): Promise<Spinner> {
    if (!this.interactive) return this.plainSpinner(text);
    this.ora ??= await import('ora');
    const spinner = this.ora.default({ text: redact(text), stream: this.stderr as NodeJS.WriteStream }).start();
    this.activeSpinners += 1;
    const end = (fn: 'succeed' | 'fail' | 'info' | 'warn') => (final?: string) => {
      if (!spinner.isSpinning) return;
      this.activeSpinners -= 1;
      spinner[fn](final === undefined ? undefined : redact(final));
    };
    return {
      update: (next) => {
        spinner.text = redact(next);
      },
      succeed: end('succeed'),
      fail: end('fail'),
      info: end('info'),
      warn: end('warn'),
    };
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
    this.stderr.write(`${redact(message)}\n`);
  }
}
