/**
 * The critical path of a fresh `setup --export-now latest --schedule <f>`: the shortest wall time any
 * client could achieve against the same servers, derived from the step graph in src/setup/steps.ts
 *
 * (preflight also makes the lookups the plan needs: whether an endpoint or export bucket exists)
 *
 *   preflight ─┬─ bucket ───────────────┬─ bucketPolicy ─┐
 *              ├─ atlasRole ─ iamRole ──┴─ authorize ────┼─ exportBucket ─┬─ exportNow
 *              └─ endpoint ─ endpointActive ─────────────┘                └─ schedule
 *
 * and the simulator's delays. Each Atlas call on a chain costs what the server took to answer it
 * (the simulated per-call latency included), as measured at the recording proxy; waits cost their
 * configured delay. AWS calls (to moto) and the client's own work count as zero, which makes the
 * figure a lower bound and the ratio strict.
 */

export const FORMULA = [
  'critical path = node start',
  '  + preflight  max(GET project, GET cluster, GET system status, list endpoints, list export buckets)',
  '  + max( endpoint: create endpoint + PROVISION wait + the GET that sees ACTIVE,',
  "         IAM:      create access role + PROPAGATION wait (from the IAM role's CreateDate) + the authorize that succeeds )",
  '  + export bucket: create export bucket',
  '  + max( export now: list snapshots + create export job + EXPORT wait + the GET that sees it finished,',
  '         schedule:   GET schedule + PATCH schedule )',
  'Each call costs the time the simulator took to answer it (per-call latency included), measured at a',
  'recording proxy; AWS calls and client work count as zero (a lower bound, so the ratio is strict).',
];

const ID = '[0-9a-f]{24}';
const GROUP = `/api/atlas/v2/groups/${ID}`;

const PATTERNS = {
  systemStatus: ['GET', /^\/api\/atlas\/v2$/],
  project: ['GET', new RegExp(`^${GROUP}$`)],
  cluster: ['GET', new RegExp(`^${GROUP}/clusters/[^/]+$`)],
  listEndpoints: ['GET', new RegExp(`^${GROUP}/backup/AWS/privateEndpoints$`)],
  createEndpoint: ['POST', new RegExp(`^${GROUP}/backup/AWS/privateEndpoints$`)],
  getEndpoint: ['GET', new RegExp(`^${GROUP}/backup/AWS/privateEndpoints/${ID}$`)],
  createRole: ['POST', new RegExp(`^${GROUP}/cloudProviderAccess$`)],
  authorize: ['PATCH', new RegExp(`^${GROUP}/cloudProviderAccess/${ID}$`)],
  listExportBuckets: ['GET', new RegExp(`^${GROUP}/backup/exportBuckets$`)],
  createExportBucket: ['POST', new RegExp(`^${GROUP}/backup/exportBuckets$`)],
  listSnapshots: ['GET', new RegExp(`^${GROUP}/clusters/[^/]+/backup/snapshots$`)],
  createExport: ['POST', new RegExp(`^${GROUP}/clusters/[^/]+/backup/exports$`)],
  getExport: ['GET', new RegExp(`^${GROUP}/clusters/[^/]+/backup/exports/${ID}$`)],
  getSchedule: ['GET', new RegExp(`^${GROUP}/clusters/[^/]+/backup/schedule$`)],
  updateSchedule: ['PATCH', new RegExp(`^${GROUP}/clusters/[^/]+/backup/schedule$`)],
};

/**
 * @param {Array<{method: string, path: string, status: number, start: number, end: number}>} exchanges
 * @param {{ endpointProvisionMs: number, iamPropagationMs: number, exportMs: number, nodeStartMs: number }} d
 */
export function criticalPath(exchanges, d) {
  // Digest challenges (401) are the client's cost, not the server's: only answered calls count.
  const answered = exchanges.filter((x) => x.status !== 401);
  const matching = (name) => {
    const [method, pattern] = PATTERNS[name];
    return answered.filter((x) => x.method === method && pattern.test(x.path));
  };
  const took = (x) => (x ? x.end - x.start : Number.NaN);
  const first = (name) => took(matching(name)[0]);
  const last = (name) => took(matching(name).at(-1));
  const succeeded = (name) => took(matching(name).find((x) => x.status < 300));

  // Preflight reads all at once: the longest of them counts.
  const preflight = Math.max(
    first('project'),
    first('cluster'),
    first('systemStatus'),
    first('listEndpoints'),
    first('listExportBuckets'),
  );
  const endpoint = first('createEndpoint') + d.endpointProvisionMs + last('getEndpoint');
  // The propagation window runs from the IAM role's CreateDate (made right after the access role, by
  // an AWS call counted as zero), not from the first authorize's arrival.
  const iam = first('createRole') + d.iamPropagationMs + succeeded('authorize');
  const exportBucket = first('createExportBucket');
  const exportNow = first('listSnapshots') + first('createExport') + d.exportMs + last('getExport');
  const schedule = first('getSchedule') + first('updateSchedule');
  const totalMs =
    d.nodeStartMs +
    preflight +
    Math.max(endpoint, iam) +
    exportBucket +
    Math.max(exportNow, schedule);
  return {
    totalMs,
    terms: {
      nodeStart: d.nodeStartMs,
      preflight,
      endpoint,
      iam,
      exportBucket,
      exportNow,
      schedule,
    },
  };
}
