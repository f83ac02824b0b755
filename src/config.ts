/**
 * The config file (`--config FILE`, JSON) and how it merges with flags: flags win over the file; the
 * environment supplies credentials. Unknown keys are reported, never ignored.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CliError, ExitCode, UsageError } from './errors.js';
import { parseJsonFile } from './json.js';
import { isCi, type Output } from './output.js';
import type { StateFile } from './state/schema.js';
import { warnIfExposed } from './run.js';

export const SetupConfig = z.strictObject({
  /** Optional JSON Schema reference for editors; ignored. */
  $schema: z.string().optional(),
  projectId: z.string().optional(),
  clusterName: z.string().optional(),
  bucket: z
    .strictObject({
      name: z.string().optional(),
      region: z.string().optional(),
      /** SSE-S3 or SSE-KMS, in any case; checked with the other values. */
      encryption: z.string().optional(),
      kmsKeyArn: z.string().optional(),
    })
    .optional(),
  iamRoleName: z.string().optional(),
  exportNow: z.strictObject({ snapshotId: z.string() }).optional(),
  schedule: z.strictObject({ frequency: z.string() }).optional(),
  timeouts: z
    .strictObject({
      authorizeSeconds: z.number().positive().optional(),
      endpointSeconds: z.number().positive().optional(),
      exportSeconds: z.number().positive().optional(),
    })
    .optional(),
});

export type SetupConfig = z.infer<typeof SetupConfig>;

/** Reads and validates a config file; every problem is listed in one error. */
export function readConfigFile(path: string, out: Output): SetupConfig {
  const { config, problems } = readConfigFileProblems(path, out);
  if (problems.length > 0) {
    throw new UsageError(
      `The config file ${path} has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`,
      {
        code: 'CONFIG_INVALID',
        hint: 'Fix the keys named above; see atlas-pl-export.example.json and the README section "Modes, flags and the config file".',
      },
    );
  }
  return config;
}

/**
 * Reads a config file and returns what is valid in it, with one line per problem (unknown keys,
 * wrong types), so a caller can report them together with the problems of the values themselves.
 * A file that cannot be read or is not JSON is an error at once: nothing in it can be used.
 */
export function readConfigFileProblems(
  path: string,
  out: Output,
): { config: SetupConfig; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`Cannot read the config file ${path}: ${(error as Error).message}`, {
      code: 'CONFIG_UNREADABLE',
      hint:
        code === 'EACCES' || code === 'EPERM'
          ? `Let this user read ${path} (for example chmod 600 it as its owner), or copy it somewhere readable.`
          : code === 'EISDIR'
            ? 'Give --config the path of a JSON file, not a directory.'
            : 'Check the path given to --config.',
    });
  }
  warnIfSecretsInside(text, path, out);
  let data: unknown;
  try {
    // Editors on Windows may save UTF-8 with a byte order mark, which JSON.parse refuses.
    data = parseJsonFile(text);
  } catch (error) {
    throw new UsageError(`The config file ${path} is not valid JSON: ${(error as Error).message}`, {
      code: 'CONFIG_INVALID',
      hint: 'See atlas-pl-export.example.json for the expected shape.',
    });
  }
  const problems: string[] = [];
  // Each round reports the problems zod finds and drops the parts they name, until what is left is valid.
  for (let round = 0; round < 10; round += 1) {
    const parsed = SetupConfig.safeParse(data);
    if (parsed.success) return { config: parsed.data, problems };
    for (const issue of parsed.error.issues) {
      const where = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') {
        problems.push(`${where}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`);
        for (const key of issue.keys) data = without(data, [...issue.path, key]);
      } else {
        const problem = `${where}: ${issue.message}`;
        if (!problems.includes(problem)) problems.push(problem);
        // A missing required key cannot be dropped: its object goes instead.
        const dropped = without(data, issue.path);
        data =
          JSON.stringify(dropped) === JSON.stringify(data)
            ? without(data, issue.path.slice(0, -1))
            : dropped;
      }
    }
  }
  return { config: {}, problems };
}

/** A copy of `data` without the value at `path` (the whole document for an empty path). */
function without(data: unknown, path: readonly PropertyKey[]): unknown {
  if (path.length === 0) return {};
  if (typeof data !== 'object' || data === null) return data;
  const [head, ...rest] = path;
  const copy = (Array.isArray(data) ? [...data] : { ...data }) as Record<PropertyKey, unknown>;
  if (rest.length === 0) delete copy[head as PropertyKey];
  else copy[head as PropertyKey] = without(copy[head as PropertyKey], rest);
  return copy;
}

/** Credentials belong in the environment, not in the config; warn when a file that holds some is exposed. */
function warnIfSecretsInside(text: string, path: string, out: Output): void {
  if (/private.?api.?key|client.?secret|secret.?access.?key/i.test(text)) {
    out.warn(`${path} appears to hold credentials; keep them in the environment or .env instead.`);
    warnIfExposed(out, path);
  }
}

/** Parses a positive number of seconds from a flag. */
export function secondsOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`${name} must be a positive number of seconds, not "${String(value)}".`);
  }
  return seconds;
}

/** Fails with one message that lists every problem, before any cloud call. */
export function failWithProblems(problems: string[], hint: string): void {
  if (problems.length === 0) return;
  throw new CliError(
    problems.length === 1
      ? `${problems[0]}`
      : `${problems.length} problems must be fixed before anything is changed:\n  - ${problems.join('\n  - ')}`,
    { code: 'INVALID_INPUT', hint, exitCode: ExitCode.usage },
  );
}

/** Prompts only with a person at the terminal: stdin a TTY, not --non-interactive, not CI. */
export function isInteractive(options: Record<string, unknown>): boolean {
  return !options.nonInteractive && Boolean(process.stdin.isTTY) && !isCi();
}

/** A config file naming another project or cluster than the state file is most likely a mistake. */
export function warnIfConfigDiffers(
  config: { projectId?: string; clusterName?: string },
  state: StateFile,
  out: Output,
): void {
  if (config.projectId && config.projectId !== state.atlas.projectId) {
    out.warn(
      `The config file names project ${config.projectId}, but the state file is for project ${state.atlas.projectId}; using the state file's.`,
    );
  }
  if (config.clusterName && config.clusterName !== state.atlas.clusterName) {
    out.warn(
      `The config file names cluster ${config.clusterName}, but the state file is for cluster ${state.atlas.clusterName}; using the state file's.`,
    );
  }
}
