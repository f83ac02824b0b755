#!/usr/bin/env node
/**
 * `npm run bench`: start-up, setup wall time against its critical path, and call counts, each as a
 * ratio or count measured in this run, printed beside its target with pass or fail.
 *
 *   node bench/run.mjs [--runs 15] [--out bench/RESULTS.md]
 *
 * Needs the build (dist/) and python3 with moto, like the sandbox. Exits 1 when a target is missed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { criticalPath, FORMULA } from './critical-path.mjs';
import { startRecorder } from './recorder.mjs';

// The simulator runs in this process and uses the AWS SDK, whose notices are noise here.
process.removeAllListeners('warning');

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(ROOT, 'dist', 'cli.cjs');
const TRACE = join(ROOT, 'bench', 'trace-modules.mjs');

const DELAYS = { endpointProvisionMs: 6000, iamPropagationMs: 3000, exportMs: 2000 };
const LATENCY_MS = 20;
const TARGETS = { help: 1.5, setup: 1.15 };
/** Packages `--help` must not load. */
const HEAVY = [
  '@aws-sdk/',
  '@smithy/',
  '@inquirer/',
  'ora',
  'urllib',
  'undici',
  'zod',
  'write-file-atomic',
];

const args = process.argv.slice(2);
const flag = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const RUNS = Number(flag('--runs') ?? 15);
const OUT = flag('--out');

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const ms = (value) => `${Math.round(value)} ms`;
const ratio = (value) => `${value.toFixed(2)}x`;
const verdict = (ok) => (ok ? 'pass' : 'FAIL');

// ---------------------------------------------------------------------------------------------
// 1. Start-up

function timeOnce(argv) {
  const started = performance.now();
  const result = spawnSync(process.execPath, argv, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: cleanEnv(),
  });
  const took = performance.now() - started;
  if (result.status !== 0)
    throw new Error(`node ${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
  return took;
}

/** The modules a --help run loads, from a loader hook (bench/trace-modules.mjs). */
function modulesLoadedBy(cliArgs) {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-pl-export-trace-'));
  const file = join(dir, 'modules.txt');
  try {
    const result = spawnSync(process.execPath, ['--import', TRACE, CLI, ...cliArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...cleanEnv(), ATLAS_PL_EXPORT_TRACE_MODULES: file },
    });
    if (result.status !== 0)
      throw new Error(`${cliArgs.join(' ')} exited ${result.status}: ${result.stderr}`);
    return [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function startup() {
  const commands = {
    node: ['-e', '0'],
    help: [CLI, '--help'],
    statusHelp: [CLI, 'status', '--help'],
  };
  const times = { node: [], help: [], statusHelp: [] };
  // One warm-up each (file cache), then interleaved runs so load on the machine hits all three alike.
  for (const argv of Object.values(commands)) timeOnce(argv);
  for (let i = 0; i < RUNS; i += 1) {
    for (const [name, argv] of Object.entries(commands)) times[name].push(timeOnce(argv));
  }
  const node = median(times.node);
  const help = median(times.help);
  const statusHelp = median(times.statusHelp);
  const loaded = modulesLoadedBy(['--help']);
  const heavy = loaded.filter((url) => HEAVY.some((name) => url.includes(`/node_modules/${name}`)));
  return {
    node,
    help,
    statusHelp,
    helpRatio: help / node,
    statusHelpRatio: statusHelp / node,
    modules: loaded.length,
    heavy,
  };
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Setup against the sandbox

function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(MONGODB_ATLAS_|AWS_|NODE_EXTRA_CA_CERTS$|CI$)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function runSetup(env, setupArgs, { killWhen } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...setupArgs], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let timer;
    if (killWhen) {
      timer = setInterval(() => {
        if (killWhen()) {
          child.kill('SIGKILL');
          clearInterval(timer);
        }
      }, 5);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      const wallMs = performance.now() - started;
      if (signal) return resolve({ killed: true, wallMs });
      let summary;
      try {
        summary = JSON.parse(stdout);
      } catch {
        return reject(new Error(`setup printed no JSON (exit ${code}).\n${stderr}`));
      }
      if (code !== 0)
        return reject(
          new Error(`setup exited ${code}: ${JSON.stringify(summary.error)}\n${stderr}`),
        );
      resolve({ wallMs, summary });
    });
  });
}

function completedSteps(statePath) {
  if (!existsSync(statePath)) return [];
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')).completedSteps ?? [];
  } catch {
    return []; // read between two atomic replacements; the next poll sees it whole
  }
}

async function setupFigures(nodeStartMs) {
  const { startSandbox } = await import(join(ROOT, 'dist', 'sandbox', 'index.js'));
  const sandbox = await startSandbox({
    delays: DELAYS,
    faults: { latencyMs: LATENCY_MS },
    applyToProcessEnv: true,
  });
  const recorder = await startRecorder(sandbox.env.MONGODB_ATLAS_BASE_URL);
  const work = mkdtempSync(join(tmpdir(), 'atlas-pl-export-bench-'));
  const env = cleanEnv({ ...sandbox.env, MONGODB_ATLAS_BASE_URL: recorder.url });
  let counter = 0;
  const scenario = () => {
    counter += 1;
    const statePath = join(work, `run-${counter}.state.json`);
    const argv = [
      'setup',
      '--non-interactive',
      '--json',
      '--project-id',
      sandbox.atlas.seed.projectId,
      '--cluster',
      sandbox.atlas.seed.clusters.eligible,
      '--bucket',
      `atlas-pl-export-bench-${process.pid}-${counter}`,
      '--state',
      statePath,
      '--export-now',
      'latest',
      '--schedule',
      'monthly',
    ];
    return { statePath, argv };
  };
  const reset = async () => {
    await sandbox.moto?.reset();
    await sandbox.atlas.reset();
    recorder.exchanges.length = 0;
  };
  try {
    // Warm-up: the simulator and moto load their code on first use; that is the servers' start-up,
    // not the client's, so one unmeasured run goes first.
    await runSetup(env, scenario().argv);

    await reset();
    const fresh = scenario();
    const first = await runSetup(env, fresh.argv);
    const path = criticalPath(recorder.exchanges, {
      ...DELAYS,
      latencyMs: LATENCY_MS,
      nodeStartMs,
    });
    const resources = Object.keys(
      JSON.parse(readFileSync(fresh.statePath, 'utf8')).resources,
    ).length;

    const rerun = await runSetup(env, fresh.argv);

    await reset();
    const killed = scenario();
    const kill = await runSetup(env, killed.argv, {
      killWhen: () => completedSteps(killed.statePath).includes('iamRole'),
    });
    if (!kill.killed)
      throw new Error('the setup to kill finished before the IAM role step was recorded');
    const resumed = await runSetup(env, killed.argv);

    return {
      wallMs: first.wallMs,
      criticalPath: path,
      setupRatio: first.wallMs / path.totalMs,
      resources,
      calls: {
        fresh: first.summary.calls,
        rerun: rerun.summary.calls,
        resumed: resumed.summary.calls,
      },
      rerunUnchanged: Object.values(rerun.summary.steps).every(
        (step) => step.status === 'unchanged',
      ),
    };
  } finally {
    await recorder.close();
    await sandbox.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function report(start, setup) {
  const c = setup.calls;
  const writes = (calls) => calls.atlas.writes + calls.aws.writes;
  const reads = (calls) => calls.atlas.reads + calls.aws.reads;
  const rerunOk = writes(c.rerun) === 0 && reads(c.rerun) <= setup.resources;
  const t = setup.criticalPath.terms;
  const results = {
    help: start.helpRatio <= TARGETS.help && start.heavy.length === 0,
    statusHelp: start.statusHelpRatio <= TARGETS.help,
    setup: setup.setupRatio <= TARGETS.setup,
    rerun: rerunOk,
  };
  const row = (calls) =>
    `${String(calls.atlas.reads).padStart(5)} ${String(calls.atlas.writes).padStart(6)} ${String(calls.aws.reads).padStart(5)} ${String(calls.aws.writes).padStart(6)}`;
  const lines = [
    `## Performance`,
    '',
    `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (Node ${process.version}, ${process.platform}); ratios are taken within one run.`,
    '',
    '### 1. Start-up (median of ' + RUNS + ' cold starts each)',
    '',
    '```',
    `node -e 0                        ${ms(start.node)}`,
    `atlas-pl-export --help           ${ms(start.help)}  ${ratio(start.helpRatio)} of node -e 0   target <= ${TARGETS.help}x  ${verdict(start.helpRatio <= TARGETS.help)}`,
    `atlas-pl-export status --help    ${ms(start.statusHelp)}  ${ratio(start.statusHelpRatio)} of node -e 0   target <= ${TARGETS.help}x  ${verdict(results.statusHelp)}`,
    `modules loaded by --help         ${start.modules}, heavy: ${start.heavy.length ? start.heavy.join(', ') : 'none'}`,
    '```',
    '',
    `### 2. Setup wall time against its critical path`,
    '',
    `Sandbox delays: private endpoint ${DELAYS.endpointProvisionMs / 1000} s to ACTIVE, IAM propagation ${DELAYS.iamPropagationMs / 1000} s, export ${DELAYS.exportMs / 1000} s, ${LATENCY_MS} ms added to every Atlas call; \`setup --non-interactive --export-now latest --schedule monthly\`, fresh.`,
    '',
    '```',
    ...FORMULA,
    '',
    `terms: node start ${ms(t.nodeStart)}, preflight ${ms(t.preflight)}, endpoint chain ${ms(t.endpoint)}, IAM chain ${ms(t.iam)},`,
    `       export bucket ${ms(t.exportBucket)}, export now ${ms(t.exportNow)}, schedule ${ms(t.schedule)}`,
    `critical path ${ms(setup.criticalPath.totalMs)}, wall time ${ms(setup.wallMs)} (process start to exit)`,
    `wall / critical path             ${ratio(setup.setupRatio)}   target <= ${TARGETS.setup}x  ${verdict(results.setup)}`,
    '```',
    '',
    '### 3. Calls (logical calls; a digest challenge or a retry is not a call)',
    '',
    '```',
    '                                   Atlas         AWS',
    '                                 reads writes reads writes',
    `fresh setup                      ${row(c.fresh)}`,
    `rerun of a finished setup        ${row(c.rerun)}   target: 0 writes, reads <= ${setup.resources} resources  ${verdict(rerunOk)}`,
    `resumed after kill at iamRole    ${row(c.resumed)}`,
    '```',
    '',
  ];
  return { text: lines.join('\n'), ok: Object.values(results).every(Boolean) };
}

const start = startup();
const setup = await setupFigures(start.node);
const { text, ok } = report(start, setup);
process.stdout.write(`${text}\n`);
if (OUT) writeFileSync(OUT, `${text}\n`);
process.exitCode = ok ? 0 : 1;
