/**
 * Runs a set of steps as a dependency graph: every step starts as soon as the steps it depends on
 * have finished, so slow waits (the private endpoint, IAM propagation) overlap. After each step the
 * caller's `onStepDone` records its result (the state file is written there) before any step that
 * depends on it starts. When a step fails, no new step starts; steps already running finish and
 * are recorded, then the first failure is thrown.
 */
import type { Output, Spinner } from '../output.js';

export type StepStatus =
  'created' | 'adopted' | 'updated' | 'unchanged' | 'skipped' | 'planned' | 'done';

export interface StepResult {
  status: StepStatus;
  /** One line for people: what was created, adopted, changed, or why it was skipped. */
  detail: string;
}

/** Set by the runner once a step failed: waits in other steps stop at their next poll. */
export interface StopSignal {
  /** The title of the step that failed. */
  because?: string;
}

/** Thrown by a step that stopped waiting because another step failed. */
export class StepStopped extends Error {
  constructor(readonly because: string) {
    super(`stopped because "${because}" failed`);
  }
}

export interface Step<Id extends string> {
  id: Id;
  title: string;
  needs: readonly Id[];
  /**
   * Runs the step. `progress` updates the step's spinner text (e.g. elapsed time on waits); a wait
   * throws StepStopped once `stop.because` is set.
   */
  run(progress: (text: string) => void, stop: StopSignal): Promise<StepResult>;
}

export interface RunnerOptions<Id extends string> {
  out: Output;
  /** Called after each successful step, before dependents start; persists the result. */
  onStepDone(id: Id, result: StepResult): Promise<void>;
  /** Steps finished by an earlier call (e.g. preflight, run before the plan is shown): not run again. */
  finished?: ReadonlyMap<Id, StepResult>;
}

export interface RunSummary<Id extends string> {
  results: Map<Id, StepResult>;
  /** Wall time of each step in milliseconds. */
  timings: Map<Id, number>;
}

export async function runSteps<Id extends string>(
  steps: Step<Id>[],
  options: RunnerOptions<Id>,
): Promise<RunSummary<Id>> {
  checkGraph(steps);
  const results = new Map<Id, StepResult>(options.finished ?? []);
  const timings = new Map<Id, number>();
  const started = new Set<Id>(results.keys());
  const running = new Map<Id, Promise<void>>();
  const stop: StopSignal = {};
  let failure: unknown;

  const ready = () =>
    steps.filter((step) => !started.has(step.id) && step.needs.every((need) => results.has(need)));

  const launch = (step: Step<Id>) => {
    started.add(step.id);
    const task = runOne(step, options, timings, stop)
      .then(async (result) => {
        await options.onStepDone(step.id, result);
        results.set(step.id, result);
      })
      .catch((error: unknown) => {
        failure ??= error;
        if (!(error instanceof StepStopped)) stop.because ??= step.title;
      })
      .finally(() => running.delete(step.id));
    running.set(step.id, task);
  };

  for (;;) {
    if (failure === undefined) for (const step of ready()) launch(step);
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (failure !== undefined) throw failure;
  const notRun = steps.filter((step) => !results.has(step.id));
  if (notRun.length > 0)
    throw new Error(`Steps never became ready: ${notRun.map((s) => s.id).join(', ')}`);
  return { results, timings };
}

async function runOne<Id extends string>(
  step: Step<Id>,
  options: RunnerOptions<Id>,
  timings: Map<Id, number>,
  stop: StopSignal,
): Promise<StepResult> {
  const started = Date.now();
  // Without a terminal there is nothing to animate: one line when the step ends, not two.
  const spinner: Spinner = options.out.interactive
    ? await options.out.spinner(step.title)
    : endLineOnly(options.out);
  try {
    const result = await step.run((text) => spinner.update(`${step.title}: ${text}`), stop);
    const line = `${step.title}: ${result.detail}`;
    if (result.status === 'skipped' || result.status === 'planned') spinner.info(line);
    else spinner.succeed(line);
    return result;
  } catch (error) {
    // A step stopped by another's failure did not fail: a neutral mark, and why.
    if (error instanceof StepStopped) spinner.info(`${step.title}: ${error.message}`);
    else spinner.fail(`${step.title}: failed`);
    throw error;
  } finally {
    timings.set(step.id, Date.now() - started);
  }
}

/** A progress line that prints only its outcome (✔, ✖, ℹ or ⚠ and the text). */
function endLineOnly(out: Output): Spinner {
  let ended = false;
  const end = (mark: string) => (final?: string) => {
    if (ended) return;
    ended = true;
    if (final !== undefined) out.info(`${mark} ${final}`);
  };
  return {
    update: () => undefined,
    succeed: end('✔'),
    fail: end('✖'),
    info: end('ℹ'),
    warn: end('⚠'),
  };
}

/** Every dependency must name a known step, and the graph must have no cycle. */
function checkGraph<Id extends string>(steps: Step<Id>[]): void {
  const ids = new Set(steps.map((step) => step.id));
  for (const step of steps) {
    for (const need of step.needs) {
      if (!ids.has(need)) throw new Error(`Step ${step.id} needs unknown step ${need}`);
    }
  }
  const visiting = new Set<Id>();
  const done = new Set<Id>();
  const byId = new Map(steps.map((step) => [step.id, step]));
  const visit = (id: Id) => {
    if (done.has(id)) return;
    if (visiting.has(id)) throw new Error(`Steps form a cycle at ${id}`);
    visiting.add(id);
    for (const need of byId.get(id)?.needs ?? []) visit(need);
    visiting.delete(id);
    done.add(id);
  };
  for (const step of steps) visit(step.id);
}
