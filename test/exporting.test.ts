/**
 * The check of an export against its `.complete` object, which carries only the fields Atlas
 * documents (totalFiles, no file list): the objects under the prefix must number totalFiles and
 * every collection directory must hold its metadata.json; a malformed `.complete` is an error.
 * Unit cases first, then the built CLI against the sandbox with `.complete` objects changed in moto.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import { compareWithComplete, completeTotalFiles } from '../src/exporting.js';
import { runCli } from './helpers/cli.js';
import { awsClientsFor, useSandbox } from './helpers/sandbox.js';
import { freshScenario, runSetup } from './helpers/setup.js';

const prefix = 'exported_snapshots/Org/Proj/Cluster0/2026-01-01T0000/1700000000';
const files = [
  `${prefix}/db/a/rs0.0.json.gz`,
  `${prefix}/db/a/metadata.json`,
  `${prefix}/db/b/rs0.0.json.gz`,
  `${prefix}/db/b/rs0.1.json.gz`,
  `${prefix}/db/b/metadata.json`,
];

describe('checking an export against its .complete object', () => {
  it('passes when the objects under the prefix number totalFiles and each collection has metadata.json', () => {
    const others = [`${prefix}/.complete`, 'exported_snapshots/.permissioncheck'];
    expect(compareWithComplete(5, prefix, [...files, ...others])).toEqual({
      found: files,
      missing: [],
      expected: 5,
    });
  });

  it('names a missing metadata.json, and counts files short of totalFiles', () => {
    const noMetadata = files.filter((key) => key !== `${prefix}/db/b/metadata.json`);
    expect(compareWithComplete(5, prefix, noMetadata).missing).toEqual([
      `${prefix}/db/b/metadata.json`,
    ]);
    const noData = files.filter((key) => key !== `${prefix}/db/b/rs0.1.json.gz`);
    expect(compareWithComplete(5, prefix, noData).missing).toEqual([
      `1 of the 5 files .complete counts (totalFiles) under ${prefix}/`,
    ]);
    expect(compareWithComplete(5, prefix, []).missing).toEqual([
      `5 of the 5 files .complete counts (totalFiles) under ${prefix}/`,
    ]);
  });

  it('flags more objects than totalFiles too', () => {
    expect(compareWithComplete(4, prefix, files).missing).toEqual([
      `5 objects under ${prefix}/ where .complete counts 4 (totalFiles)`,
    ]);
  });

  it('reads totalFiles, and calls anything else a malformed .complete (exit 3), never a crash', () => {
    expect(completeTotalFiles('{"orgId":"x","totalFiles":7}', 'here')).toBe(7);
    expect(completeTotalFiles('{"totalFiles":0}', 'here')).toBe(0);
    const cases: Array<[string, RegExp]> = [
      ['null', /it is null, not a JSON object/],
      ['[]', /it is \[\], not a JSON object/],
      ['"text"', /it is "text", not a JSON object/],
      ['42', /it is 42, not a JSON object/],
      ['not json', /it is not JSON/],
      ['{}', /its totalFiles is missing, not a non-negative integer/],
      ['{"totalFiles":1.5}', /its totalFiles is 1.5, not a non-negative integer/],
      ['{"totalFiles":-1}', /its totalFiles is -1, not a non-negative integer/],
      ['{"totalFiles":"3"}', /its totalFiles is "3", not a non-negative integer/],
      ['{"totalFiles":null}', /its totalFiles is null, not a non-negative integer/],
    ];
    for (const [text, reason] of cases) {
      let error: unknown;
      try {
        completeTotalFiles(text, 's3://b/p/.complete');
      } catch (caught) {
        error = caught;
      }
      expect(error, text).toBeInstanceOf(CliError);
      expect((error as CliError).code, text).toBe('EXPORT_COMPLETE_MALFORMED');
      expect((error as CliError).exitCode, text).toBe(3);
      expect((error as CliError).message, text).toMatch(
        /^The export's \.complete object s3:\/\/b\/p\/\.complete is malformed: /,
      );
      expect((error as CliError).message, text).toMatch(reason);
      expect((error as CliError).hint, text).toBeDefined();
    }
  });
});

describe('the export command against a real .complete (sandbox)', () => {
  const sandbox = useSandbox();

  /** A finished setup with one exported snapshot; the job's id, prefix and .complete text. */
  async function exported() {
    const { statePath, bucket } = freshScenario('complete');
    const state = await runSetup(sandbox, statePath, bucket, ['--export-now', 'latest']);
    const job = state.exports[0] as { id: string; prefix: string };
    const prefix = job.prefix.replace(/^\//, '');
    const aws = await awsClientsFor(sandbox.env);
    const object = await aws.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/.complete` }),
    );
    const text = (await object.Body?.transformToString()) ?? '';
    const writeComplete = (body: string) =>
      aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/.complete`, Body: body }));
    const inspect = () =>
      runCli(['export', '--state', statePath, '--non-interactive', '--job', job.id, '--json'], {
        env: sandbox.env,
      });
    return { job, prefix, text, writeComplete, inspect };
  }

  it('the simulator writes only the documented fields, and the CLI checks the prefix against totalFiles', async () => {
    const { text, prefix, inspect } = await exported();
    const complete = JSON.parse(text);
    expect(Object.keys(complete).sort()).toEqual(
      [
        'clusterName',
        'clusterUniqueId',
        'groupId',
        'groupName',
        'orgId',
        'orgName',
        'snapshotInitiationDate',
        'totalFiles',
      ].sort(),
    );
    expect(complete.orgName).toBe(sandbox.atlas.seed.orgName);
    // The org name's space became an underscore in the path.
    expect(sandbox.atlas.seed.orgName).toContain(' ');
    expect(prefix).toContain(`/${sandbox.atlas.seed.orgName.replace(/ /g, '_')}/`);
    const result = await inspect();
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.files).toMatchObject({ allPresent: true, missing: [] });
    expect(doc.files.found).toHaveLength(complete.totalFiles);
    expect(result.stderr).toContain(
      `(${complete.totalFiles}, .complete counts ${complete.totalFiles})`,
    );
  });

  it('a .complete that counts more files than there are fails the check (exit 6)', async () => {
    const { text, writeComplete, inspect } = await exported();
    const complete = JSON.parse(text);
    await writeComplete(JSON.stringify({ ...complete, totalFiles: complete.totalFiles + 2 }));
    const result = await inspect();
    expect(result.code).toBe(6);
    const doc = JSON.parse(result.stdout);
    expect(doc.error.code).toBe('EXPORT_FILES_MISSING');
    expect(doc.files.missing[0]).toMatch(/^2 of the \d+ files \.complete counts \(totalFiles\)/);
    expect(result.stderr).not.toMatch(/files? that \.complete counts (is|are) present/);
  });

  it('a malformed .complete exits 3 with a clear message, never "all present"', async () => {
    const { writeComplete, inspect } = await exported();
    for (const body of ['null', '{"totalFiles":-3}', '{"totalFiles":"many"}']) {
      await writeComplete(body);
      const result = await inspect();
      expect(result.code, body).toBe(3);
      expect(result.stderr, body).toMatch(/\.complete\S* is malformed/);
      expect(result.stderr, body).not.toMatch(/All files|undefined|\n\s+at /);
      const doc = JSON.parse(result.stdout);
      expect(doc.error.code, body).toBe('EXPORT_COMPLETE_MALFORMED');
    }
  });
});
