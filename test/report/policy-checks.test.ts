import { describe, expect, it } from 'vitest';
import {
  bucketPolicyStatements,
  permissionPolicy,
  statementsOf,
  trustPolicy,
  type PolicyDocument,
  type PolicyStatement,
} from '../../src/aws/policies.js';
import {
  findTlsDeny,
  foreignGrantFindings,
  foreignGrants,
  minimumPermissions,
  missingPermissions,
  permissionFindings,
  publicGrantFindings,
  roleStatementFindings,
  trustFindings,
  wildcardMatch,
} from '../../src/report/policy-checks.js';

const BUCKET = 'evidence-bucket';
const ARN = `arn:aws:s3:::${BUCKET}`;
const ATLAS = 'arn:aws:iam::536727724300:root';
const EXTERNAL_ID = 'b23fa59b-3bc9-4823-ba4f-18057880b955';
const KMS = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const ours = (): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: bucketPolicyStatements({
    bucket: BUCKET,
    partition: 'aws',
    roleArn: 'arn:aws:iam::123456789012:role/r',
  }),
});

const tlsDeny = (changes: Record<string, unknown>): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'TlsOnly',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [ARN, `${ARN}/*`],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      ...changes,
    },
  ],
});

describe('wildcardMatch', () => {
  it('matches IAM wildcards, actions case-insensitively', () => {
    expect(wildcardMatch('s3:*', 'S3:PutObject', true)).toBe(true);
    expect(wildcardMatch('s3:Put*', 's3:GetObject', true)).toBe(false);
    expect(wildcardMatch(`${ARN}/*`, `${ARN}/a/b`)).toBe(true);
    expect(wildcardMatch(`${ARN}/*`, ARN)).toBe(false);
    expect(wildcardMatch('arn:aws:s3:::evidence-bucke?', ARN)).toBe(true);
  });
});

describe('findTlsDeny', () => {
  it("finds the tool's own TLS-only statement", () => {
    expect(findTlsDeny(ours(), ARN)).toEqual({
      statement: 'AtlasPlExportDenyInsecureTransport',
      near: [],
    });
  });

  it('accepts an equivalent statement: {"AWS":"*"}, boolean false, explicit object actions', () => {
    const policy = tlsDeny({
      Principal: { AWS: '*' },
      Action: ['s3:GetObject', 's3:PutObject'],
      Condition: { Bool: { 'aws:securetransport': false } },
    });
    expect(findTlsDeny(policy, ARN).statement).toBe('TlsOnly');
  });

  it('rejects look-alikes, saying why', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { Condition: { Bool: { 'aws:SecureTransport': 'true' } } },
        'its condition is not exactly Bool aws:SecureTransport false',
      ],
      [
        { Principal: { AWS: 'arn:aws:iam::123456789012:root' } },
        'it is not for every principal (*)',
      ],
      [{ Action: 's3:PutObject' }, 'it does not cover s3:GetObject'],
      [{ Resource: ARN }, `it does not cover the objects ${ARN}/*`],
      [{ Resource: `${ARN}/*` }, `it does not cover the bucket ${ARN}`],
      [
        {
          Condition: {
            Bool: { 'aws:SecureTransport': 'false' },
            StringEquals: { 'aws:SourceVpce': 'vpce-1' },
          },
        },
        'its condition is not exactly',
      ],
    ];
    for (const [change, why] of cases) {
      const result = findTlsDeny(tlsDeny(change), ARN);
      expect(result.statement, JSON.stringify(change)).toBeUndefined();
      expect(result.near.join(' '), JSON.stringify(change)).toContain(why);
    }
    expect(findTlsDeny(tlsDeny({ Effect: 'Allow' }), ARN)).toEqual({
      statement: undefined,
      near: [],
    });
    expect(findTlsDeny(undefined, ARN).statement).toBeUndefined();
  });
});

describe('trustFindings', () => {
  it("has none for the tool's trust policy", () => {
    expect(
      trustFindings(
        trustPolicy({ atlasAWSAccountArn: ATLAS, externalId: EXTERNAL_ID }),
        ATLAS,
        EXTERNAL_ID,
      ),
    ).toEqual([]);
  });

  it('names each widening', () => {
    const policy: PolicyDocument = {
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: [ATLAS, '111122223333'] },
          Action: ['sts:AssumeRole', 'sts:TagSession'],
        },
        {
          Effect: 'Allow',
          Principal: '*',
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': 'other' } },
        },
      ],
    };
    expect(trustFindings(policy, ATLAS, EXTERNAL_ID)).toEqual([
      `Allow statement 1 also trusts arn:aws:iam::111122223333:root (Atlas's account is ${ATLAS})`,
      'Allow statement 1 allows sts:TagSession besides sts:AssumeRole',
      'Allow statement 1 has no sts:ExternalId condition (StringEquals), so any role in the trusted account could use it',
      `Allow statement 2 also trusts * (Atlas's account is ${ATLAS})`,
      `Allow statement 2 accepts external id other; Atlas's is ${EXTERNAL_ID}`,
    ]);
    expect(trustFindings({ Statement: [] }, ATLAS, EXTERNAL_ID)).toHaveLength(1);
  });
});

describe('permissionFindings', () => {
  const minimum = minimumPermissions({ bucket: BUCKET, partition: 'aws', kmsKeyArn: KMS });

  it("has none for the tool's permission policy, which grants the whole minimum", () => {
    const policies = [
      {
        label: 'inline policy p',
        document: permissionPolicy({ bucket: BUCKET, partition: 'aws', kmsKeyArn: KMS }),
      },
    ];
    expect(permissionFindings(policies, minimum)).toEqual([]);
    expect(missingPermissions(policies, minimum)).toEqual([]);
  });

  it('lists extra actions, wider resources, NotAction and NotResource; ignores Deny', () => {
    const document: PolicyDocument = {
      Statement: [
        {
          Sid: 'Wide',
          Effect: 'Allow',
          Action: ['s3:PutObject', 's3:DeleteObject'],
          Resource: ['*', `${ARN}/*`],
        },
        { Effect: 'Allow', NotAction: 'iam:*', Resource: '*' },
        { Effect: 'Allow', Action: 's3:GetBucketLocation', NotResource: ARN },
        { Effect: 'Deny', Action: '*', Resource: '*' },
      ],
    };
    expect(permissionFindings([{ label: 'inline policy x', document }], minimum)).toEqual([
      `inline policy x (Wide) allows s3:PutObject on every resource (*), wider than ${ARN}/*`,
      'inline policy x (Wide) allows s3:DeleteObject, which is not in the minimum',
      'inline policy x (statement 2) allows every action except iam:*',
      `inline policy x (statement 3) allows on every resource except ${ARN}`,
    ]);
  });

  it('reports the minimum permissions nothing grants', () => {
    const document: PolicyDocument = {
      Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: `${ARN}/*` }],
    };
    expect(missingPermissions([{ label: 'p', document }], minimum).map((p) => p.action)).toEqual([
      's3:GetBucketLocation',
      'kms:GenerateDataKey',
      'kms:Decrypt',
    ]);
  });
});

describe('publicGrantFindings', () => {
  it('flags an Allow to everyone without a restricting condition, by Sid or position, and nothing in our own policy', () => {
    expect(publicGrantFindings(ours())).toEqual([]);
    const document: PolicyDocument = {
      Statement: [
        ...(ours().Statement as never[]),
        {
          Sid: 'PublicRead',
          Effect: 'Allow',
          Principal: '*',
          Action: 's3:GetObject',
          Resource: `${ARN}/*`,
        },
        {
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::123456789012:root', '*'] },
          Action: ['s3:ListBucket', 's3:GetObject'],
          Resource: [ARN, `${ARN}/*`],
        },
        {
          Sid: 'AllButMe',
          Effect: 'Allow',
          NotPrincipal: { AWS: 'arn:aws:iam::123456789012:root' },
          NotAction: 's3:DeleteObject',
          Resource: '*',
        },
        // A condition that does not restrict who: still public.
        {
          Sid: 'OnlyTls',
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: 's3:PutObject',
          Resource: `${ARN}/*`,
          Condition: { Bool: { 'aws:SecureTransport': 'true' } },
        },
        // A wildcard or IfExists condition does not restrict either.
        {
          Sid: 'AnyVpce',
          Effect: 'Allow',
          Principal: '*',
          Action: 's3:PutObject',
          Resource: `${ARN}/*`,
          Condition: { StringLike: { 'aws:SourceVpce': 'vpce-*' } },
        },
        {
          Sid: 'IfExists',
          Effect: 'Allow',
          Principal: '*',
          Action: 's3:PutObject',
          Resource: `${ARN}/*`,
          Condition: { StringEqualsIfExists: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } },
        },
      ],
    };
    expect(publicGrantFindings(document)).toEqual([
      'statement PublicRead allows everyone s3:GetObject',
      'statement #5 allows everyone s3:ListBucket, s3:GetObject',
      'statement AllButMe allows everyone every action except s3:DeleteObject',
      'statement OnlyTls allows everyone s3:PutObject',
      'statement AnyVpce allows everyone s3:PutObject',
      'statement IfExists allows everyone s3:PutObject',
    ]);
  });

  it('accepts grants to everyone that a condition pins to a VPC endpoint, VPC, account, organization or ARN; never for an IP condition', () => {
    const restricted = (
      Condition: Record<string, Record<string, string | string[]>>,
    ): PolicyDocument => ({
      Statement: [
        {
          Effect: 'Allow',
          Principal: '*',
          Action: 's3:GetObject',
          Resource: `${ARN}/*`,
          Condition,
        },
      ],
    });
    const conditions: Array<Record<string, Record<string, string | string[]>>> = [
      { StringEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } },
      { StringEquals: { 'aws:PrincipalAccount': ['123456789012'] } },
      { StringEquals: { 'aws:SourceAccount': '123456789012' } },
      { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' } },
      { StringEquals: { 'aws:SourceVpc': 'vpc-1a2b3c4d' } },
      { ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::123456789012:role/reader' } },
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::999999999999:role/*' } },
    ];
    for (const condition of conditions) {
      expect(publicGrantFindings(restricted(condition)), JSON.stringify(condition)).toEqual([]);
    }
    // An address condition says nothing of who or which path: any range keeps the grant public
    // (the old expectation that a /24 made it non-public was wrong).
    for (const ranges of ['0.0.0.0/0', ['0.0.0.0/1', '128.0.0.0/1'], '203.0.113.0/24']) {
      expect(
        publicGrantFindings(restricted({ IpAddress: { 'aws:SourceIp': ranges } })),
        JSON.stringify(ranges),
      ).toEqual(['statement #1 allows everyone s3:GetObject']);
    }
    expect(
      publicGrantFindings(restricted({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/x' } })),
    ).toHaveLength(1);
    expect(publicGrantFindings(undefined)).toEqual([]);
  });
});

describe('grants outside the bucket owner', () => {
  const OWNER = '123456789012';
  const allow = (Sid: string, Principal: PolicyStatement['Principal']): PolicyStatement => ({
    Sid,
    Effect: 'Allow',
    Principal,
    Action: 's3:GetObject',
    Resource: `${ARN}/*`,
  });

  it("names grants to another account's principals, bare account ids and canonical users; not the owner's, services or everyone", () => {
    const policy: PolicyDocument = {
      Statement: [
        ...statementsOf(ours()),
        allow('OwnerRole', { AWS: `arn:aws:iam::${OWNER}:role/reader` }),
        allow('OwnerRoot', { AWS: OWNER }),
        allow('Partner', { AWS: ['999999999999', `arn:aws:iam::${OWNER}:role/reader`] }),
        allow('PartnerSession', { AWS: 'arn:aws:sts::222222222222:assumed-role/x/y' }),
        allow('Canonical', { CanonicalUser: '79a59df900b949e55d96a1e698fbaced' }),
        allow('Logging', { Service: 'logging.s3.amazonaws.com' }),
        allow('Everyone', '*'),
        { ...allow('Denied', { AWS: '999999999999' }), Effect: 'Deny' },
      ],
    };
    expect(foreignGrantFindings(policy, OWNER)).toEqual([
      "statement Partner grants s3:GetObject to arn:aws:iam::999999999999:root, outside the bucket owner's account 123456789012",
      "statement PartnerSession grants s3:GetObject to arn:aws:sts::222222222222:assumed-role/x/y, outside the bucket owner's account 123456789012",
      "statement Canonical grants s3:GetObject to CanonicalUser:79a59df900b949e55d96a1e698fbaced, outside the bucket owner's account 123456789012",
    ]);
    expect(foreignGrants(policy, OWNER, ['Partner', 'PartnerSession', 'Canonical'])).toEqual([]);
  });

  it('names grants to everyone that a condition scopes to principals outside the owner: another account, an organization, an ARN of another account', () => {
    const scoped = (
      Sid: string,
      Condition: Record<string, Record<string, string | string[]>>,
    ): PolicyStatement => ({ ...allow(Sid, '*'), Condition });
    const policy: PolicyDocument = {
      Statement: [
        scoped('OtherAccount', { StringEquals: { 'aws:PrincipalAccount': '999999999999' } }),
        scoped('OwnerAccount', { StringEquals: { 'aws:PrincipalAccount': OWNER } }),
        scoped('EitherAccount', {
          StringEquals: { 'aws:PrincipalAccount': [OWNER, '222222222222'] },
        }),
        scoped('Organization', { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' } }),
        scoped('OtherRoles', {
          ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::999999999999:role/*' },
        }),
        scoped('OwnerRoles', { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${OWNER}:role/*` } }),
        // ANDed: the organization within the owner's account is the owner's account.
        scoped('OwnerInOrg', {
          StringEquals: { 'aws:PrincipalAccount': OWNER, 'aws:PrincipalOrgID': 'o-abcdefghij' },
        }),
        scoped('Vpce', { StringEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } }),
      ],
    };
    expect(foreignGrantFindings(policy, OWNER)).toEqual([
      "statement OtherAccount grants s3:GetObject to any principal of account 999999999999 (Principal * limited by aws:PrincipalAccount), outside the bucket owner's account 123456789012",
      "statement EitherAccount grants s3:GetObject to any principal of account 222222222222 (Principal * limited by aws:PrincipalAccount), outside the bucket owner's account 123456789012",
      "statement Organization grants s3:GetObject to any principal with aws:PrincipalOrgID o-abcdefghij (Principal * limited by aws:PrincipalOrgID; an organization spans other accounts), outside the bucket owner's account 123456789012",
      "statement OtherRoles grants s3:GetObject to any principal of account 999999999999 (Principal * limited by aws:PrincipalArn), outside the bucket owner's account 123456789012",
    ]);
    expect(publicGrantFindings(policy)).toEqual([]);
  });

  it("flags the setup's role statements unless they name exactly its role", () => {
    const sids = ['AtlasPlExportAllowBucketLocation', 'AtlasPlExportAllowPutObject'];
    const role = 'arn:aws:iam::123456789012:role/r';
    expect(roleStatementFindings(ours(), sids, role)).toEqual([]);
    const widened: PolicyDocument = {
      Statement: statementsOf(ours()).map((statement) =>
        statement.Sid === 'AtlasPlExportAllowPutObject'
          ? { ...statement, Principal: { AWS: [role, 'arn:aws:iam::123456789012:role/other'] } }
          : statement,
      ),
    };
    expect(roleStatementFindings(widened, sids, role)).toEqual([
      `statement AtlasPlExportAllowPutObject names ${role}, arn:aws:iam::123456789012:role/other, not the setup's role ${role}`,
    ]);
  });
});
