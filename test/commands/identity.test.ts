/**
 * A state file's ids belong to one Atlas and one AWS account. Every command that reads the state
 * file refuses (exit 2, nothing changed, nothing asked of the other side) when
 * MONGODB_ATLAS_BASE_URL points at another Atlas; status, report and teardown also refuse another
 * AWS account's credentials, since every resource would look gone and teardown would remove that
 * account's resources of the same names. Driven through the built CLI after a real setup.
 */
import { readFileSync } from 'node:fs';
import { GetBucketPolicyCommand } from '@aws-sdk/client-s3';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import { freshScenario, otherAccountEnv, runSetup, startOtherAtlas } from '../helpers/setup.js';

const sandbox = useSandbox();

describe('commands on a state file of another Atlas or AWS account', () => {
  it('export, schedule, status, report and teardown refuse another Atlas before any call to it', async () => {
    const { statePath, bucket } = freshScenario('identity-atlas');
    await runSetup(sandbox, statePath, bucket);
    const before = readFileSync(statePath, 'utf8');
    const other = await startOtherAtlas(sandbox);
    try {
      const env = { ...sandbox.env, MONGODB_ATLAS_BASE_URL: other.url };
      const commands = [
        ['export', '--latest'],
        ['export', '--list'],
        ['schedule', '--disable', '--yes'],
        ['status'],
        ['report'],
        ['teardown', '--yes'],
      ];
      for (const args of commands) {
        const result = await runCli([...args, '--state', statePath], { env });
        expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toContain(
          `records a setup in the Atlas at ${new URL(sandbox.env.MONGODB_ATLAS_BASE_URL!).origin}, but MONGODB_ATLAS_BASE_URL points at ${new URL(other.url).origin}`,
        );
      }
      expect(other.calls).toEqual([]);
      expect(readFileSync(statePath, 'utf8')).toBe(before);
    } finally {
      await other.close();
    }
  });

  it("status, report and teardown refuse another AWS account's credentials; teardown removes nothing", async () => {
    const { statePath, bucket } = freshScenario('identity-aws');
    const state = await runSetup(sandbox, statePath, bucket);
    const before = readFileSync(statePath, 'utf8');
    const aws = await awsClientsFor(sandbox.env);
    const policyBefore = (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy;
    const env = await otherAccountEnv(sandbox);
    const atlasWritesBefore = sandbox.atlas.calls.filter((c) => c.method !== 'GET').length;
    for (const args of [['status'], ['report'], ['teardown', '--yes', '--delete-bucket']]) {
      const result = await runCli([...args, '--state', statePath], { env });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(
        `records AWS account ${state.aws.accountId}, but the AWS credentials in use belong to account 222233334444`,
      );
    }
    expect(sandbox.atlas.calls.filter((c) => c.method !== 'GET').length).toBe(atlasWritesBefore);
    expect(readFileSync(statePath, 'utf8')).toBe(before);
    expect((await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy).toBe(
      policyBefore,
    );
    const role = await aws.iam.send(new GetRoleCommand({ RoleName: state.resources.iamRole.name }));
    expect(role.Role?.Arn).toBe(state.resources.iamRole.arn);
  });
});
