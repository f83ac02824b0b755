import { gunzipSync } from 'node:zlib';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../src/aws/clients.js';
import { startMoto, type MotoServer } from '../../src/sandbox/moto.js';
import {
  bucketRegion,
  checkAssumeRole,
  checkExportPermissions,
  loadExportAccess,
  PERMISSION_CHECK_KEY,
  sessionArn,
  writeExportFiles,
  writePermissionCheck,
} from '../../src/sim/aws-checks.js';
import { awsClientsFor } from '../helpers/sandbox.js';

const ATLAS = 'arn:aws:iam::536727724300:root';
const EXTERNAL_ID = 'a7d3c1e2-5b4f-4e8a-9c6d-2f1e0b9a8c7d';
const BUCKET = 'atlas-exports-test';

let moto: MotoServer;
let aws: AwsClients;

beforeAll(async () => {
  moto = await startMoto();
  aws = await awsClientsFor({
    AWS_ENDPOINT_URL: moto.url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_CA_BUNDLE: moto.caFile,
  });
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
});

function trustPolicy(
  condition: object | null = { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } },
  principal: unknown = { AWS: ATLAS },
) {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: principal,
        Action: 'sts:AssumeRole',
        ...(condition ? { Condition: condition } : {}),
      },
    ],
  });
}

async function createRole(name: string, trust = trustPolicy(), path = '/'): Promise<string> {
  const response = await aws.iam.send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust, Path: path }),
  );
  return response.Role?.Arn ?? '';
}

const exportStatements = (bucket = BUCKET) => [
  { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: `arn:aws:s3:::${bucket}` },
  { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/*` },
];

async function putInline(role: string, statements: object[], name = 'export') {
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: role,
      PolicyName: name,
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );
}

async function createManaged(name: string, statements: object[]): Promise<string> {
  const response = await aws.iam.send(
    new CreatePolicyCommand({
      PolicyName: name,
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );
  return response.Policy?.Arn ?? '';
}

async function createBucket(name = BUCKET, region?: string) {
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: name,
      ...(region
        ? { CreateBucketConfiguration: { LocationConstraint: region as 'eu-west-1' } }
        : {}),
    }),
  );
}

/** The standard "deny requests without TLS" bucket-policy statement. */
const tlsOnly = {
  Sid: 'DenyInsecure',
  Effect: 'Deny',
  Principal: '*',
  Action: 's3:*',
  Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
};

function putBucketPolicy(statements: object[]) {
  return aws.s3.send(
    new PutBucketPolicyCommand({
      Bucket: BUCKET,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );
}

/** Sets the bucket's default encryption to SSE-KMS with `keyId` (none: the AWS managed key). */
async function defaultKmsKey(keyId?: string) {
  await aws.s3.send(
    new PutBucketEncryptionCommand({
      Bucket: BUCKET,
      ServerSideEncryptionConfiguration: {
        Rules: [
          {
            ApplyServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              ...(keyId ? { KMSMasterKeyID: keyId } : {}),
            },
          },
        ],
      },
    }),
  );
}

/** The bucket and the role `atlas-export` with the documented export policy (or `statements`). */
async function bucketAndRole(statements: object[] = exportStatements()): Promise<string> {
  await createBucket();
  const roleArn = await createRole('atlas-export');
  await putInline('atlas-export', statements);
  return roleArn;
}

describe('checkAssumeRole', () => {
  it('passes with the trusted principal and the right external id, and reports the creation date', async () => {
    const roleArn = await createRole('atlas-export');
    const result = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(result.ok).toBe(true);
    expect(result.roleCreatedAt).toBeInstanceOf(Date);
  });

  it('fails with a wrong external id, naming the one the policy expects', async () => {
    const roleArn = await createRole('atlas-export');
    const result = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: 'wrong-id',
    });
    expect(result).toMatchObject({ ok: false });
    expect(!result.ok && result.reason).toMatch(
      /does not accept the external id wrong-id.*expects a7d3c1e2/,
    );
  });

  it('fails when the trust policy has no external-id condition', async () => {
    const roleArn = await createRole('atlas-export', trustPolicy(null));
    const result = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(!result.ok && result.reason).toMatch(/does not require the external id/);
  });

  it('fails when the principal is not trusted', async () => {
    const roleArn = await createRole(
      'atlas-export',
      trustPolicy(null, { AWS: 'arn:aws:iam::111122223333:root' }),
    );
    const result = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(!result.ok && result.reason).toMatch(/does not trust arn:aws:iam::536727724300:root/);
  });

  it('accepts the bare Atlas account id as principal', async () => {
    const roleArn = await createRole(
      'atlas-export',
      trustPolicy(null, { AWS: '536727724300' }).replace(
        '"Action"',
        `"Condition":{"StringEquals":{"sts:ExternalId":"${EXTERNAL_ID}"}},"Action"`,
      ),
    );
    const result = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(result.ok).toBe(true);
  });

  it('fails for a role that does not exist, and for an ARN that is not the role’s', async () => {
    const missing = await checkAssumeRole(aws, {
      roleArn: 'arn:aws:iam::123456789012:role/nope',
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(!missing.ok && missing.reason).toMatch(/No IAM role named nope/);
    const roleArn = await createRole('pathed', trustPolicy(), '/team/');
    expect(roleArn).toContain('role/team/pathed');
    const wrongPath = await checkAssumeRole(aws, {
      roleArn: 'arn:aws:iam::123456789012:role/pathed',
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(!wrongPath.ok && wrongPath.reason).toMatch(/has the ARN .*role\/team\/pathed/);
    const right = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(right.ok).toBe(true);
  });

  it('names the condition that stops the Allow: a key it does not know, or a known key with its value', async () => {
    const cases: Array<[object, RegExp]> = [
      [
        { StringEquals: { 'sts:ExternalId': EXTERNAL_ID, 'aws:SourceVpc': 'vpc-0123' } },
        /only under a condition Atlas's AssumeRole request does not meet: the condition StringEquals on aws:SourceVpc uses a key the simulator does not know/,
      ],
      [
        { StringEquals: { 'sts:ExternalId': EXTERNAL_ID, 'aws:PrincipalAccount': '111122223333' } },
        /condition StringEquals on aws:PrincipalAccount does not hold \(aws:PrincipalAccount is 536727724300\)/,
      ],
    ];
    for (const [i, [condition, reason]] of cases.entries()) {
      const roleArn = await createRole(`atlas-export-${i}`, trustPolicy(condition));
      const result = await checkAssumeRole(aws, {
        roleArn,
        atlasAWSAccountArn: ATLAS,
        externalId: EXTERNAL_ID,
      });
      expect(!result.ok && result.reason).toMatch(reason);
      expect(!result.ok && result.reason).not.toMatch(/external id/);
    }
  });

  it('refuses an Allow with NotPrincipal and a principal of another partition', async () => {
    const notPrincipal = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' },
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } },
        },
      ],
    });
    const input = { atlasAWSAccountArn: ATLAS, externalId: EXTERNAL_ID };
    const np = await checkAssumeRole(aws, {
      ...input,
      roleArn: await createRole('np-role', notPrincipal),
    });
    expect(!np.ok && np.reason).toMatch(
      /NotPrincipal, which IAM does not accept in a trust policy/,
    );
    const cn = await checkAssumeRole(aws, {
      ...input,
      roleArn: await createRole(
        'cn-role',
        trustPolicy(undefined, { AWS: 'arn:aws-cn:iam::536727724300:root' }),
      ),
    });
    expect(!cn.ok && cn.reason).toMatch(/does not trust arn:aws:iam::536727724300:root/);
  });

  it('fails when a Deny statement overrides the Allow', async () => {
    const trust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        JSON.parse(trustPolicy()).Statement[0],
        {
          Sid: 'NoAtlas',
          Effect: 'Deny',
          Principal: { AWS: '536727724300' },
          Action: 'sts:AssumeRole',
        },
      ],
    });
    const roleArn = await createRole('atlas-export', trust);
    const result = await checkAssumeRole(aws, {
      roleArn,
      atlasAWSAccountArn: ATLAS,
      externalId: EXTERNAL_ID,
    });
    expect(!result.ok && result.reason).toMatch(/explicitly denies .*NoAtlas/);
  });
});

describe('checkExportPermissions', () => {
  it('passes with an inline policy granting GetBucketLocation and PutObject', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', exportStatements());
    expect(await checkExportPermissions(aws, { roleArn, bucketName: BUCKET })).toEqual({
      ok: true,
    });
  });

  it('passes with the permissions split over an inline and an attached managed policy', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    const [location, put] = exportStatements();
    await putInline('atlas-export', [location!]);
    const policyArn = await createManaged('export-put', [put!]);
    await aws.iam.send(
      new AttachRolePolicyCommand({ RoleName: 'atlas-export', PolicyArn: policyArn }),
    );
    expect(await checkExportPermissions(aws, { roleArn, bucketName: BUCKET })).toEqual({
      ok: true,
    });
  });

  it('fails without s3:PutObject', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', [exportStatements()[0]!]);
    const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!result.ok && result.reason).toMatch(
      /do not allow s3:PutObject on arn:aws:s3:::atlas-exports-test\//,
    );
  });

  it('fails when PutObject is granted on another bucket only', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', [exportStatements()[0]!, exportStatements('other-bucket')[1]!]);
    const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(result.ok).toBe(false);
  });

  it('fails when an attached policy denies PutObject', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', exportStatements());
    const denyArn = await createManaged('deny-put', [
      { Sid: 'Freeze', Effect: 'Deny', Action: 's3:Put*', Resource: '*' },
    ]);
    await aws.iam.send(
      new AttachRolePolicyCommand({ RoleName: 'atlas-export', PolicyArn: denyArn }),
    );
    const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!result.ok && result.reason).toMatch(/explicitly deny s3:PutObject.*Freeze/);
  });

  it('fails when the permissions boundary leaves out GetBucketLocation', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', exportStatements());
    const boundary = await createManaged('boundary', [exportStatements()[1]!]);
    await aws.iam.send(
      new PutRolePermissionsBoundaryCommand({
        RoleName: 'atlas-export',
        PermissionsBoundary: boundary,
      }),
    );
    const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!result.ok && result.reason).toMatch(/permissions boundary .* s3:GetBucketLocation/);
  });

  it('fails for a missing bucket and a missing role', async () => {
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', exportStatements());
    const noBucket = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!noBucket.ok && noBucket.reason).toMatch(/bucket atlas-exports-test does not exist/);
    await createBucket();
    const noRole = await checkExportPermissions(aws, {
      roleArn: 'arn:aws:iam::123456789012:role/ghost',
      bucketName: BUCKET,
    });
    expect(!noRole.ok && noRole.reason).toMatch(/No IAM role/);
  });

  it('SSE-KMS bucket: fails without kms:GenerateDataKey on its key, passes with it', async () => {
    await createBucket();
    const keyArn = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    await defaultKmsKey(keyArn);
    const roleArn = await createRole('atlas-export');
    await putInline('atlas-export', exportStatements());
    const without = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!without.ok && without.reason).toMatch(
      /kms:GenerateDataKey on arn:aws:kms:us-east-1:123456789012:key\/1234abcd/,
    );
    // S3 also needs kms:Decrypt on the key (multipart uploads of KMS-encrypted objects).
    await putInline(
      'atlas-export',
      [{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Encrypt'], Resource: keyArn }],
      'kms',
    );
    const noDecrypt = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!noDecrypt.ok && noDecrypt.reason).toMatch(/kms:Decrypt on arn:aws:kms:.*key\/1234abcd/);
    // Granting the alias's ARN is not granting the key.
    await putInline(
      'atlas-export',
      [
        {
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: 'arn:aws:kms:us-east-1:123456789012:alias/exports',
        },
      ],
      'kms',
    );
    expect((await checkExportPermissions(aws, { roleArn, bucketName: BUCKET })).ok).toBe(false);
    await putInline(
      'atlas-export',
      [{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn }],
      'kms',
    );
    expect(await checkExportPermissions(aws, { roleArn, bucketName: BUCKET })).toEqual({
      ok: true,
    });
  });

  it('SSE-KMS with the AWS managed aws/s3 key asks nothing of the role; a customer alias cannot be resolved', async () => {
    const roleArn = await bucketAndRole();
    for (const key of [
      undefined,
      'alias/aws/s3',
      'arn:aws:kms:us-east-1:123456789012:alias/aws/s3',
    ]) {
      await defaultKmsKey(key);
      const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
      expect(result.ok, String(key)).toBe(true);
    }
    await defaultKmsKey('alias/exports');
    const alias = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!alias.ok && alias.reason).toMatch(/names the KMS alias alias\/exports/);
  });

  it('an explicit kmsKeyArn is checked even without bucket encryption', async () => {
    const roleArn = await bucketAndRole();
    const result = await checkExportPermissions(aws, {
      roleArn,
      bucketName: BUCKET,
      kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/other',
    });
    expect(!result.ok && result.reason).toMatch(/kms:GenerateDataKey/);
  });

  it('a bucket policy denying the role fails; a TLS-only Deny does not', async () => {
    const roleArn = await bucketAndRole();
    await putBucketPolicy([tlsOnly]);
    expect(await checkExportPermissions(aws, { roleArn, bucketName: BUCKET })).toEqual({
      ok: true,
    });
    const denyRole = {
      Sid: 'NoAtlasRole',
      Effect: 'Deny',
      Principal: { AWS: roleArn },
      Action: 's3:PutObject',
      Resource: `arn:aws:s3:::${BUCKET}/*`,
    };
    await putBucketPolicy([tlsOnly, denyRole]);
    const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!result.ok && result.reason).toMatch(
      /bucket policy of atlas-exports-test denies s3:PutObject.*NoAtlasRole/,
    );
  });
});

describe("Atlas's session, the bucket policy and the private endpoint", () => {
  it("a Deny with NotPrincipal naming the role denies the role's session unless the session ARN is listed too", async () => {
    const roleArn = await bucketAndRole();
    const onlyAtlas = (names: string[]) => ({
      Sid: 'OnlyAtlas',
      Effect: 'Deny',
      NotPrincipal: { AWS: names },
      Action: 's3:PutObject',
      Resource: `arn:aws:s3:::${BUCKET}/*`,
    });
    await putBucketPolicy([tlsOnly, onlyAtlas([roleArn])]);
    const denied = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!denied.ok && denied.reason).toMatch(
      new RegExp(
        `denies s3:PutObject .* to ${sessionArn(roleArn).replace(/[/.]/g, '\\$&')} .*OnlyAtlas`,
      ),
    );
    expect(sessionArn(roleArn)).toBe(
      'arn:aws:sts::123456789012:assumed-role/atlas-export/mongodb-atlas-export',
    );
    await putBucketPolicy([tlsOnly, onlyAtlas([roleArn, sessionArn(roleArn)])]);
    expect((await checkExportPermissions(aws, { roleArn, bucketName: BUCKET })).ok).toBe(true);
  });

  it('a "Deny unless aws:SourceVpce" bucket policy passes requests through that endpoint only', async () => {
    const roleArn = await bucketAndRole();
    await putBucketPolicy([
      tlsOnly,
      {
        Sid: 'OnlyThroughEndpoint',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:PutObject',
        Resource: `arn:aws:s3:::${BUCKET}/*`,
        Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-0a1b2c3d4e5f60718' } },
      },
    ]);
    const input = { roleArn, bucketName: BUCKET };
    expect(
      await checkExportPermissions(aws, { ...input, sourceVpce: 'vpce-0a1b2c3d4e5f60718' }),
    ).toEqual({
      ok: true,
    });
    for (const other of [{}, { sourceVpce: 'vpce-0fffffffffffffff0' }]) {
      const result = await checkExportPermissions(aws, { ...input, ...other });
      expect(!result.ok && result.reason).toMatch(/OnlyThroughEndpoint/);
    }
  });

  it('an identity-policy condition on a key the simulator does not know names the key', async () => {
    const roleArn = await bucketAndRole([
      exportStatements()[0]!,
      {
        ...exportStatements()[1]!,
        Condition: { StringEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
      },
    ]);
    const result = await checkExportPermissions(aws, { roleArn, bucketName: BUCKET });
    expect(!result.ok && result.reason).toMatch(
      /do not allow s3:PutObject .*condition StringEquals on s3:x-amz-server-side-encryption uses a key the simulator does not know/,
    );
  });
});

describe('bucketRegion', () => {
  it('answers us-east-1 for the default region, the constraint otherwise, undefined for no bucket', async () => {
    await createBucket();
    await createBucket('eu-bucket-test', 'eu-west-1');
    expect(await bucketRegion(aws, BUCKET)).toBe('us-east-1');
    expect(await bucketRegion(aws, 'eu-bucket-test')).toBe('eu-west-1');
    expect(await bucketRegion(aws, 'no-such-bucket-here')).toBeUndefined();
  });
});

async function readObject(key: string): Promise<Buffer> {
  const response = await aws.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function listKeys(): Promise<string[]> {
  const response = await aws.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (response.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('writes', () => {
  it('writePermissionCheck writes the empty .permissioncheck object', async () => {
    await createBucket();
    await writePermissionCheck(aws, BUCKET);
    expect(await listKeys()).toEqual([PERMISSION_CHECK_KEY]);
    expect((await readObject(PERMISSION_CHECK_KEY)).length).toBe(0);
  });

  const meta = {
    orgId: '5f1a2b3c4d5e6f7a8b9c0d1e',
    orgName: 'Sandbox_Org',
    groupId: '6a1b2c3d4e5f6a7b8c9d0e1f',
    groupName: 'Sandbox_Project',
    clusterName: 'Cluster0',
    clusterUniqueId: '6b2c3d4e5f6a7b8c9d0e1f2a',
    snapshotId: '6c3d4e5f6a7b8c9d0e1f2a3b',
    snapshotInitiationDate: '2024-05-01T08:00:00.000Z',
    replicaSetNames: ['atlas-abc123-shard-0'],
  };
  const prefix =
    'exported_snapshots/Sandbox_Org/Sandbox_Project/Cluster0/2024-05-01T0800/1714550400';

  it('writeExportFiles writes gzip extended JSON per collection, metadata.json, then .complete with the documented fields', async () => {
    await createBucket();
    const created = new Date('2024-04-30T12:00:00.000Z');
    const { files } = await writeExportFiles(aws, {
      bucketName: BUCKET,
      prefix: `/${prefix}/`,
      meta: { ...meta, customData: [{ key: 'ticket', value: 'OPS-1' }] },
      collections: [
        {
          db: 'shop',
          collection: 'orders',
          documents: [{ _id: { $oid: '65f000000000000000000001' }, total: 5, created }, { _id: 2 }],
        },
        { db: 'shop', collection: 'empty', documents: [] },
      ],
    });
    const expected = [
      `${prefix}/shop/orders/atlas-abc123-shard-0.0.json.gz`,
      `${prefix}/shop/orders/metadata.json`,
      `${prefix}/shop/empty/atlas-abc123-shard-0.0.json.gz`,
      `${prefix}/shop/empty/metadata.json`,
      `${prefix}/.complete`,
    ];
    expect(files).toEqual(expected);
    expect(await listKeys()).toEqual([...expected].sort());

    const lines = gunzipSync(await readObject(expected[0]!))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      {
        _id: { $oid: '65f000000000000000000001' },
        total: 5,
        created: { $date: '2024-04-30T12:00:00.000Z' },
      },
      { _id: 2 },
    ]);
    expect(gunzipSync(await readObject(expected[2]!)).length).toBe(0);
    const metadata = JSON.parse((await readObject(expected[1]!)).toString());
    expect(metadata).toMatchObject({ collectionName: 'orders', indexes: [{ name: '_id_' }] });

    const complete = JSON.parse((await readObject(`${prefix}/.complete`)).toString());
    expect(complete).toEqual({
      orgId: meta.orgId,
      orgName: meta.orgName,
      groupId: meta.groupId,
      groupName: meta.groupName,
      clusterUniqueId: meta.clusterUniqueId,
      clusterName: meta.clusterName,
      snapshotInitiationDate: meta.snapshotInitiationDate,
      totalFiles: 4,
      customData: [{ key: 'ticket', value: 'OPS-1' }],
    });
  });

  it('with the session’s access, writes only the keys the role may write and stops at the first refused one', async () => {
    await createBucket();
    const roleArn = await createRole('atlas-export');
    // Data files and metadata.json, but not .complete.
    await putInline('atlas-export', [
      exportStatements()[0]!,
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: [`arn:aws:s3:::${BUCKET}/*.json.gz`, `arn:aws:s3:::${BUCKET}/*/metadata.json`],
      },
    ]);
    const access = await loadExportAccess(aws, { roleArn, bucketName: BUCKET });
    if ('reason' in access) throw new Error(access.reason);
    const collections = [{ db: 'shop', collection: 'orders', documents: [{ _id: 1 }] }];
    const refused = await writeExportFiles(aws, {
      bucketName: BUCKET,
      prefix,
      meta,
      collections,
      access,
    });
    expect(refused.files).toEqual([
      `${prefix}/shop/orders/atlas-abc123-shard-0.0.json.gz`,
      `${prefix}/shop/orders/metadata.json`,
    ]);
    expect(refused.denied?.key).toBe(`${prefix}/.complete`);
    expect(refused.denied?.reason).toMatch(
      /do not allow s3:PutObject on arn:aws:s3:::atlas-exports-test\/.*\/\.complete/,
    );
    expect(await listKeys()).toEqual([...refused.files].sort());

    await putInline('atlas-export', exportStatements());
    const allowed = await loadExportAccess(aws, { roleArn, bucketName: BUCKET });
    if ('reason' in allowed) throw new Error(allowed.reason);
    const whole = await writeExportFiles(aws, {
      bucketName: BUCKET,
      prefix,
      meta,
      collections,
      access: allowed,
    });
    expect(whole.denied).toBeUndefined();
    expect(whole.files.at(-1)).toBe(`${prefix}/.complete`);
  });

  it('spreads a sharded cluster’s documents over its replica sets and numbers chunks', async () => {
    await createBucket();
    const documents = Array.from({ length: 2005 }, (_, i) => ({ _id: i }));
    const { files } = await writeExportFiles(aws, {
      bucketName: BUCKET,
      prefix,
      meta: { ...meta, replicaSetNames: ['rs-shard-0', 'rs-shard-1'] },
      collections: [{ db: 'big', collection: 'items', documents }],
    });
    const dataFiles = files
      .filter((f) => f.endsWith('.json.gz'))
      .map((f) => f.slice(prefix.length + 1));
    expect(dataFiles).toEqual([
      'big/items/rs-shard-0.0.json.gz',
      'big/items/rs-shard-0.1.json.gz',
      'big/items/rs-shard-1.0.json.gz',
      'big/items/rs-shard-1.1.json.gz',
    ]);
    let total = 0;
    for (const key of files.filter((f) => f.endsWith('.json.gz'))) {
      total += gunzipSync(await readObject(key))
        .toString()
        .trim()
        .split('\n').length;
    }
    expect(total).toBe(2005);
  });
});
