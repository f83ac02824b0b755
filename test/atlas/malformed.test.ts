/**
 * Answers Atlas would not give, through the built CLI: a proxy in front of the simulator replaces one
 * successful answer with an empty, null or incomplete body. Each is a clear ATLAS_INVALID_RESPONSE
 * error (exit 3) naming the call and what is missing: never a crash, and never read as "gone".
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';
import { freshScenario, readState, setupArgs } from '../helpers/setup.js';
import { startAtlasProxy, type AtlasProxy } from './proxy.js';

const sandbox = useSandbox();
let proxy: AtlasProxy;

beforeAll(async () => {
  proxy = await startAtlasProxy(sandbox.env.MONGODB_ATLAS_BASE_URL!);
});
beforeEach(() => {
  proxy.rewrite = undefined;
  proxy.log.length = 0;
});
afterAll(async () => {
  await proxy?.close();
});

const viaProxy = () => ({ ...sandbox.env, MONGODB_ATLAS_BASE_URL: proxy.url });
const prefix = (path: string) =>
  `Atlas answered GET ${path} with a response this tool cannot read: `;

function expectNoCrash(result: { code: number | null; stdout: string; stderr: string }) {
  expect(result.stderr).not.toMatch(/Unexpected error|Cannot read properties|at .*\.js:\d+/);
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/\bundefined\b/);
}

describe('a malformed cluster answer during setup', () => {
  it.each([
    ['an empty body', '', 'the body is empty'],
    ['null', 'null', 'the body is null'],
    ['an object without the cluster fields', '{"links":[]}', 'id is missing, name is missing'],
  ])('%s: exit 3 with what is wrong, before anything is created', async (_label, body, what) => {
    const { statePath, bucket } = freshScenario('malformed');
    const { projectId, clusters } = sandbox.atlas.seed;
    const clusterPath = `/api/atlas/v2/groups/${projectId}/clusters/${clusters.eligible}`;
    proxy.rewrite = (exchange) =>
      exchange.method === 'GET' && exchange.url === clusterPath ? { body } : undefined;
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket).filter((a) => a !== '--json'),
      {
        env: viaProxy(),
      },
    );
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(`error: ${prefix(clusterPath)}${what}.`);
    expect(result.stderr).toMatch(/what to do: Check that MONGODB_ATLAS_BASE_URL points at Atlas/);
    expectNoCrash(result);
    expect(sandbox.atlas.calls.filter((call) => call.method !== 'GET')).toEqual([]);
  });
});

describe('a malformed private endpoint answer after setup', () => {
  let statePath: string;
  let bucket: string;
  let endpointPath: string;

  beforeEach(async () => {
    ({ statePath, bucket } = freshScenario('malformed'));
    // Set up through the proxy too: the state records the Atlas origin it was made with.
    const setup = await runCli(setupArgs(sandbox, statePath, bucket), { env: viaProxy() });
    expect(setup.code, setup.stderr).toBe(0);
    const state = readState(statePath);
    proxy.log.length = 0;
    const id = state.resources.privateEndpoint.id as string;
    endpointPath = `/api/atlas/v2/groups/${sandbox.atlas.seed.projectId}/backup/AWS/privateEndpoints/${id}`;
  });

  const rewriteEndpoint = (body: string) => {
    proxy.rewrite = (exchange) =>
      exchange.method === 'GET' && exchange.url === endpointPath ? { body } : undefined;
  };

  it('an empty body is not "gone": status cannot check it (exit 3), and a rerun neither adopts nor creates', async () => {
    rewriteEndpoint('');
    const before = readState(statePath).resources.privateEndpoint;
    expect(before.origin).toBe('created');

    const status = await runCli(['status', '--state', statePath], { env: viaProxy() });
    expect(status.code, status.stderr).toBe(3);
    expect(status.stdout).toMatch(
      new RegExp(
        `^not checked +private endpoint ${before.id}: could not check: Atlas answered GET`,
        'm',
      ),
    );
    expect(status.stdout).not.toMatch(/^missing/m);
    expect(status.stderr).toContain(`${prefix(endpointPath)}the body is empty.`);
    expectNoCrash(status);

    const rerun = await runCli(
      setupArgs(sandbox, statePath, bucket).filter((a) => a !== '--json'),
      {
        env: viaProxy(),
      },
    );
    expect(rerun.code, rerun.stderr).toBe(3);
    expect(rerun.stderr).toContain(`${prefix(endpointPath)}the body is empty.`);
    expectNoCrash(rerun);
    expect(readState(statePath).resources.privateEndpoint).toEqual(before);
    expect(
      proxy.log.filter((e) => e.method === 'POST' && e.url.endsWith('/privateEndpoints')),
    ).toEqual([]);
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
  });

  it('{} names the missing fields instead of "the endpoint is undefined"', async () => {
    rewriteEndpoint('{}');
    const status = await runCli(['status', '--state', statePath, '--json'], { env: viaProxy() });
    expect(status.code, status.stderr).toBe(3);
    const results = (
      JSON.parse(status.stdout) as {
        resources: Array<{
          resource: string;
          status: string;
          error?: { code: string; message: string; exitCode: number };
        }>;
      }
    ).resources;
    expect(results.find((r) => r.resource === 'privateEndpoint')).toMatchObject({
      status: 'not-checked',
      error: {
        code: 'ATLAS_INVALID_RESPONSE',
        exitCode: 3,
        message: `${prefix(endpointPath)}id is missing, regionName is missing, status is missing.`,
      },
    });
    expectNoCrash(status);
  });
});
