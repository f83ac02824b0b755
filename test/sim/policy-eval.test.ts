import { describe, expect, it } from 'vitest';
import {
  canAssumeRole,
  evaluate,
  expectedExternalIds,
  isActionAllowed,
  parsePolicy,
  PolicyParseError,
  principalEntryMatches,
  wildcardMatch,
} from '../../src/sim/policy-eval.js';

const ATLAS_ROOT = 'arn:aws:iam::536727724300:root';
const EXTERNAL_ID = '3f2a4b8e-1c7d-4e5f-9a0b-6c8d2e4f1a3b';

function trust(statement: object) {
  return parsePolicy({ Version: '2012-10-17', Statement: [statement] });
}

const standardTrust = {
  Effect: 'Allow',
  Principal: { AWS: ATLAS_ROOT },
  Action: 'sts:AssumeRole',
  Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } },
};

describe('parsePolicy', () => {
  it('accepts an object, a JSON string and a URL-encoded JSON string alike', () => {
    const doc = { Version: '2012-10-17', Statement: standardTrust };
    const fromObject = parsePolicy(doc);
    const fromJson = parsePolicy(JSON.stringify(doc));
    const fromEncoded = parsePolicy(encodeURIComponent(JSON.stringify(doc)));
    expect(fromJson).toEqual(fromObject);
    expect(fromEncoded).toEqual(fromObject);
    expect(fromObject.statements).toHaveLength(1);
  });

  it('normalises scalars to lists, including condition values and principals', () => {
    const doc = parsePolicy({ Statement: { ...standardTrust, Resource: 'arn:aws:s3:::b' } });
    const [statement] = doc.statements;
    expect(statement?.action).toEqual(['sts:AssumeRole']);
    expect(statement?.resource).toEqual(['arn:aws:s3:::b']);
    expect(statement?.principal?.byType.AWS).toEqual([ATLAS_ROOT]);
    expect(statement?.condition?.StringEquals?.['sts:ExternalId']).toEqual([EXTERNAL_ID]);
  });

  it('turns booleans in conditions into strings', () => {
    const doc = parsePolicy({
      Statement: {
        Effect: 'Deny',
        Action: '*',
        Condition: { Bool: { 'aws:SecureTransport': false } },
      },
    });
    expect(doc.statements[0]?.condition?.Bool?.['aws:SecureTransport']).toEqual(['false']);
  });

  it('rejects documents that are not policies', () => {
    expect(() => parsePolicy('not json at all')).toThrow(PolicyParseError);
    expect(() => parsePolicy({ Version: '2012-10-17' })).toThrow(/no Statement/);
    expect(() => parsePolicy({ Statement: { Effect: 'Maybe', Action: '*' } })).toThrow(
      /Allow or Deny/,
    );
    expect(() =>
      parsePolicy({ Statement: { Effect: 'Allow', Action: '*', NotAction: 's3:*' } }),
    ).toThrow(/both Action/);
  });
});

describe('wildcardMatch', () => {
  it('handles * and ? and anchors both ends', () => {
    expect(wildcardMatch('s3:*', 's3:PutObject')).toBe(true);
    expect(wildcardMatch('s3:Put*', 's3:GetObject')).toBe(false);
    expect(wildcardMatch('s3:?utObject', 's3:PutObject')).toBe(true);
    expect(wildcardMatch('s3:?utObject', 's3:utObject')).toBe(false);
    expect(wildcardMatch('arn:aws:s3:::b/*', 'arn:aws:s3:::b')).toBe(false);
    expect(wildcardMatch('arn:aws:s3:::b/*', 'arn:aws:s3:::b/a/b/c.json.gz')).toBe(true);
    expect(wildcardMatch('*a*b', 'xxaxxbxxb')).toBe(true);
    expect(wildcardMatch('*a*b', 'xxaxxbxxc')).toBe(false);
    expect(wildcardMatch('S3:PUTOBJECT', 's3:PutObject')).toBe(false);
    expect(wildcardMatch('S3:PUTOBJECT', 's3:PutObject', true)).toBe(true);
  });
});

describe('principalEntryMatches', () => {
  it('treats an account id and its root ARN as every principal of that account', () => {
    expect(principalEntryMatches('536727724300', ATLAS_ROOT)).toBe(true);
    expect(principalEntryMatches(ATLAS_ROOT, ATLAS_ROOT)).toBe(true);
    expect(principalEntryMatches(ATLAS_ROOT, 'arn:aws:iam::536727724300:role/x')).toBe(true);
    expect(principalEntryMatches('111111111111', ATLAS_ROOT)).toBe(false);
    expect(principalEntryMatches('arn:aws:iam::536727724300:role/x', ATLAS_ROOT)).toBe(false);
    expect(principalEntryMatches('*', ATLAS_ROOT)).toBe(true);
  });
});

describe('canAssumeRole (trust policies)', () => {
  it('allows the trusted account with the right external id', () => {
    const result = canAssumeRole(trust(standardTrust), {
      principal: ATLAS_ROOT,
      externalId: EXTERNAL_ID,
    });
    expect(result.decision).toBe('allow');
  });

  it('refuses a wrong external id and a missing one', () => {
    const policy = trust(standardTrust);
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: 'other' }).decision).toBe(
      'implicitDeny',
    );
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT }).decision).toBe('implicitDeny');
  });

  it('refuses a principal the policy does not name', () => {
    const result = canAssumeRole(trust(standardTrust), {
      principal: 'arn:aws:iam::111122223333:root',
      externalId: EXTERNAL_ID,
    });
    expect(result.allowed).toBe(false);
  });

  it('matches a bare account id in the policy', () => {
    const policy = trust({
      ...standardTrust,
      Principal: { AWS: ['111122223333', '536727724300'] },
    });
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).allowed).toBe(
      true,
    );
  });

  it('without a condition, any external id (or none) is accepted', () => {
    const policy = trust({ ...standardTrust, Condition: undefined });
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: 'anything' }).allowed).toBe(
      true,
    );
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT }).allowed).toBe(true);
  });

  it('a wildcard principal trusts everyone, still subject to the condition', () => {
    const star = trust({ ...standardTrust, Principal: '*' });
    const awsStar = trust({ ...standardTrust, Principal: { AWS: '*' } });
    const stranger = 'arn:aws:iam::999999999999:root';
    expect(canAssumeRole(star, { principal: stranger, externalId: EXTERNAL_ID }).allowed).toBe(
      true,
    );
    expect(canAssumeRole(awsStar, { principal: stranger, externalId: EXTERNAL_ID }).allowed).toBe(
      true,
    );
    expect(canAssumeRole(star, { principal: stranger, externalId: 'nope' }).allowed).toBe(false);
  });

  it('a Deny overrides the Allow', () => {
    const policy = parsePolicy({
      Statement: [
        standardTrust,
        { Effect: 'Deny', Principal: { AWS: '536727724300' }, Action: 'sts:*' },
      ],
    });
    const result = canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID });
    expect(result.decision).toBe('explicitDeny');
    expect(result.matched[0]?.effect).toBe('Deny');
  });

  it('ignores a Service principal and a statement for another action', () => {
    expect(
      canAssumeRole(trust({ ...standardTrust, Principal: { Service: 'ec2.amazonaws.com' } }), {
        principal: ATLAS_ROOT,
        externalId: EXTERNAL_ID,
      }).allowed,
    ).toBe(false);
    expect(
      canAssumeRole(trust({ ...standardTrust, Action: 'sts:TagSession' }), {
        principal: ATLAS_ROOT,
        externalId: EXTERNAL_ID,
      }).allowed,
    ).toBe(false);
  });

  it('a trust statement without any Principal grants nothing', () => {
    const policy = trust({ Effect: 'Allow', Action: 'sts:AssumeRole' });
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).allowed).toBe(
      false,
    );
  });

  it('NotPrincipal applies to everyone except the named principals', () => {
    const policy = parsePolicy({
      Statement: [
        { ...standardTrust, Principal: '*' },
        { Effect: 'Deny', NotPrincipal: { AWS: ATLAS_ROOT }, Action: 'sts:AssumeRole' },
      ],
    });
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).allowed).toBe(
      true,
    );
    expect(
      canAssumeRole(policy, {
        principal: 'arn:aws:iam::999999999999:root',
        externalId: EXTERNAL_ID,
      }).decision,
    ).toBe('explicitDeny');
  });

  it('with ignoreConditions, tells a failing condition from an untrusted principal', () => {
    const policy = trust(standardTrust);
    expect(
      canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: 'x' }, { ignoreConditions: true })
        .allowed,
    ).toBe(true);
    expect(expectedExternalIds(policy)).toEqual([EXTERNAL_ID]);
  });

  it('StringLike on the external id accepts wildcards', () => {
    const policy = trust({
      ...standardTrust,
      Condition: { StringLike: { 'sts:ExternalId': '3f2a4b8e-*' } },
    });
    expect(canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).allowed).toBe(
      true,
    );
    expect(
      canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: 'x3f2a4b8e-1' }).allowed,
    ).toBe(false);
  });
});

describe('identity policies', () => {
  const exportPolicy = parsePolicy({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: 'arn:aws:s3:::exports' },
      { Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::exports/*' },
    ],
  });

  it('allows exactly the granted actions on the granted resources', () => {
    expect(
      isActionAllowed(exportPolicy, 's3:GetBucketLocation', 'arn:aws:s3:::exports').allowed,
    ).toBe(true);
    expect(
      isActionAllowed(exportPolicy, 's3:PutObject', 'arn:aws:s3:::exports/a/b.json.gz').allowed,
    ).toBe(true);
    expect(isActionAllowed(exportPolicy, 's3:PutObject', 'arn:aws:s3:::exports').allowed).toBe(
      false,
    );
    expect(isActionAllowed(exportPolicy, 's3:PutObject', 'arn:aws:s3:::other/x').allowed).toBe(
      false,
    );
    expect(isActionAllowed(exportPolicy, 's3:GetObject', 'arn:aws:s3:::exports/x').decision).toBe(
      'implicitDeny',
    );
  });

  it('matches actions case-insensitively and with wildcards', () => {
    const policy = parsePolicy({
      Statement: { Effect: 'Allow', Action: 'S3:put*', Resource: '*' },
    });
    expect(isActionAllowed(policy, 's3:PutObject', 'arn:aws:s3:::b/k').allowed).toBe(true);
    expect(isActionAllowed(policy, 's3:GetObject', 'arn:aws:s3:::b/k').allowed).toBe(false);
  });

  it('matches resources case-sensitively', () => {
    expect(isActionAllowed(exportPolicy, 's3:PutObject', 'arn:aws:s3:::EXPORTS/x').allowed).toBe(
      false,
    );
  });

  it('NotAction and NotResource invert the match', () => {
    const policy = parsePolicy({
      Statement: [
        { Effect: 'Allow', NotAction: 'iam:*', Resource: '*' },
        { Effect: 'Deny', Action: 's3:PutObject', NotResource: 'arn:aws:s3:::exports/*' },
      ],
    });
    expect(isActionAllowed(policy, 's3:PutObject', 'arn:aws:s3:::exports/k').allowed).toBe(true);
    expect(isActionAllowed(policy, 's3:PutObject', 'arn:aws:s3:::elsewhere/k').decision).toBe(
      'explicitDeny',
    );
    expect(isActionAllowed(policy, 'iam:CreateRole', '*').allowed).toBe(false);
  });

  it('combines several policies: an explicit Deny in one beats an Allow in another', () => {
    const deny = parsePolicy({
      Statement: { Effect: 'Deny', Action: 's3:PutObject', Resource: '*' },
    });
    expect(
      isActionAllowed([exportPolicy, deny], 's3:PutObject', 'arn:aws:s3:::exports/k').decision,
    ).toBe('explicitDeny');
    expect(
      isActionAllowed([exportPolicy, deny], 's3:GetBucketLocation', 'arn:aws:s3:::exports').allowed,
    ).toBe(true);
  });

  it('a statement with neither Resource nor NotResource does not apply to a resource request', () => {
    const policy = parsePolicy({ Statement: { Effect: 'Allow', Action: 's3:*' } });
    expect(isActionAllowed(policy, 's3:PutObject', 'arn:aws:s3:::b/k').allowed).toBe(false);
  });
});

describe('conditions', () => {
  const allowIf = (condition: object) =>
    parsePolicy({
      Statement: { Effect: 'Allow', Action: 's3:PutObject', Resource: '*', Condition: condition },
    });
  const denyIf = (condition: object) =>
    parsePolicy({
      Statement: [
        { Effect: 'Allow', Action: 's3:PutObject', Resource: '*' },
        { Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: condition },
      ],
    });
  const put = (
    policy: ReturnType<typeof parsePolicy>,
    context: Record<string, string | boolean | string[] | undefined>,
  ) => evaluate(policy, { action: 's3:PutObject', resource: 'arn:aws:s3:::b/k', context }).decision;

  it('Bool: the TLS-only Deny applies over plain HTTP only', () => {
    const policy = denyIf({ Bool: { 'aws:SecureTransport': 'false' } });
    expect(put(policy, { 'aws:SecureTransport': true })).toBe('allow');
    expect(put(policy, { 'aws:SecureTransport': false })).toBe('explicitDeny');
    expect(put(policy, { 'aws:SecureTransport': 'FALSE' })).toBe('explicitDeny');
  });

  it('condition keys are case-insensitive', () => {
    const policy = allowIf({ StringEquals: { 'AWS:PrincipalAccount': '123456789012' } });
    expect(put(policy, { 'aws:principalaccount': '123456789012' })).toBe('allow');
  });

  it('several values of one key are ORed, several keys and operators ANDed', () => {
    const policy = allowIf({
      StringEquals: {
        'aws:PrincipalAccount': ['111111111111', '222222222222'],
        's3:x-amz-acl': 'private',
      },
      Bool: { 'aws:SecureTransport': 'true' },
    });
    const ok = {
      'aws:PrincipalAccount': '222222222222',
      's3:x-amz-acl': 'private',
      'aws:SecureTransport': true,
    };
    expect(put(policy, ok)).toBe('allow');
    expect(put(policy, { ...ok, 's3:x-amz-acl': 'public-read' })).toBe('implicitDeny');
    expect(put(policy, { ...ok, 'aws:SecureTransport': false })).toBe('implicitDeny');
    expect(put(policy, { ...ok, 'aws:PrincipalAccount': '333333333333' })).toBe('implicitDeny');
  });

  it('a missing key fails a positive operator unless IfExists, and satisfies a negated one', () => {
    expect(put(allowIf({ StringEquals: { 's3:x-amz-acl': 'private' } }), {})).toBe('implicitDeny');
    expect(put(allowIf({ StringEqualsIfExists: { 's3:x-amz-acl': 'private' } }), {})).toBe('allow');
    expect(
      put(allowIf({ StringEqualsIfExists: { 's3:x-amz-acl': 'private' } }), {
        's3:x-amz-acl': 'x',
      }),
    ).toBe('implicitDeny');
    expect(put(allowIf({ StringNotEquals: { 's3:x-amz-acl': 'public-read' } }), {})).toBe('allow');
  });

  it('StringNotEquals and StringLike', () => {
    const notEq = allowIf({ StringNotEquals: { 'aws:PrincipalAccount': '111111111111' } });
    expect(put(notEq, { 'aws:PrincipalAccount': '111111111111' })).toBe('implicitDeny');
    expect(put(notEq, { 'aws:PrincipalAccount': '222222222222' })).toBe('allow');
    const like = allowIf({ StringLike: { 's3:prefix': 'exported_snapshots/*' } });
    expect(put(like, { 's3:prefix': 'exported_snapshots/org/x' })).toBe('allow');
    expect(put(like, { 's3:prefix': 'other/x' })).toBe('implicitDeny');
  });

  it('ArnLike and ArnEquals compare component by component with wildcards', () => {
    const like = allowIf({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/atlas-*' } });
    expect(put(like, { 'aws:PrincipalArn': 'arn:aws:iam::123456789012:role/atlas-export' })).toBe(
      'allow',
    );
    expect(put(like, { 'aws:PrincipalArn': 'arn:aws:iam::123456789012:user/atlas-export' })).toBe(
      'implicitDeny',
    );
    const eq = allowIf({ ArnEquals: { 'aws:SourceArn': 'arn:aws:s3:::bucket' } });
    expect(put(eq, { 'aws:SourceArn': 'arn:aws:s3:::bucket' })).toBe('allow');
    expect(put(eq, { 'aws:SourceArn': 'arn:aws:s3:::bucket2' })).toBe('implicitDeny');
    expect(put(eq, { 'aws:SourceArn': 'not-an-arn' })).toBe('implicitDeny');
  });

  it('multi-valued keys: ForAnyValue and ForAllValues', () => {
    const anyOf = allowIf({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['team', 'env'] } });
    expect(put(anyOf, { 'aws:TagKeys': ['owner', 'env'] })).toBe('allow');
    expect(put(anyOf, { 'aws:TagKeys': ['owner'] })).toBe('implicitDeny');
    expect(put(anyOf, {})).toBe('implicitDeny');
    const allOf = allowIf({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team', 'env'] } });
    expect(put(allOf, { 'aws:TagKeys': ['team', 'env'] })).toBe('allow');
    expect(put(allOf, { 'aws:TagKeys': ['team', 'owner'] })).toBe('implicitDeny');
    expect(put(allOf, {})).toBe('allow');
  });

  it('an unknown operator: the Allow does not apply, the Deny does', () => {
    expect(put(allowIf({ NumericLessThan: { 's3:max-keys': '10' } }), { 's3:max-keys': '5' })).toBe(
      'implicitDeny',
    );
    expect(
      put(denyIf({ DateGreaterThan: { 'aws:CurrentTime': '2000-01-01T00:00:00Z' } }), {}),
    ).toBe('explicitDeny');
  });
});

describe("trust policies as IAM reads them for Atlas's AssumeRole request", () => {
  it('an Allow with NotPrincipal grants nothing; the same policy with Principal does', () => {
    const notPrincipal = trust({
      Effect: 'Allow',
      NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } },
    });
    expect(
      canAssumeRole(notPrincipal, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).decision,
    ).toBe('implicitDeny');
    expect(
      canAssumeRole(trust(standardTrust), { principal: ATLAS_ROOT, externalId: EXTERNAL_ID })
        .allowed,
    ).toBe(true);
  });

  it('principals match only in their partition', () => {
    for (const entry of [
      'arn:aws-cn:iam::536727724300:root',
      'arn:aws-us-gov:iam::536727724300:root',
    ]) {
      expect(principalEntryMatches(entry, ATLAS_ROOT), entry).toBe(false);
      const policy = trust({ ...standardTrust, Principal: { AWS: entry } });
      expect(
        canAssumeRole(policy, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).allowed,
        entry,
      ).toBe(false);
    }
    expect(principalEntryMatches('arn:aws:iam::536727724300:root', ATLAS_ROOT)).toBe(true);
  });

  it("knows the keys of Atlas's request: external id, principal account and ARN, TLS, and Null", () => {
    const allowedWith = (condition: object, externalId: string | null = EXTERNAL_ID) =>
      canAssumeRole(trust({ ...standardTrust, Condition: condition }), {
        principal: ATLAS_ROOT,
        ...(externalId ? { externalId } : {}),
      }).allowed;
    expect(allowedWith({ StringEquals: { 'aws:PrincipalAccount': '536727724300' } })).toBe(true);
    expect(allowedWith({ StringEquals: { 'aws:PrincipalAccount': '111122223333' } })).toBe(false);
    expect(allowedWith({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::536727724300:*' } })).toBe(
      true,
    );
    expect(allowedWith({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:*' } })).toBe(
      false,
    );
    expect(allowedWith({ Bool: { 'aws:SecureTransport': 'true' } })).toBe(true);
    expect(allowedWith({ Bool: { 'aws:SecureTransport': 'false' } })).toBe(false);
    expect(allowedWith({ Null: { 'sts:ExternalId': 'false' } })).toBe(true);
    expect(allowedWith({ Null: { 'sts:ExternalId': 'false' } }, null)).toBe(false);
    expect(allowedWith({ Null: { 'sts:ExternalId': 'true' } })).toBe(false);
    expect(allowedWith({ Null: { 'sts:ExternalId': 'true' } }, null)).toBe(true);
  });

  it('a condition on a key it does not know keeps the Allow from applying and says which key', () => {
    const policy = trust({
      ...standardTrust,
      Condition: {
        StringEquals: { 'sts:ExternalId': EXTERNAL_ID },
        IpAddress: { 'aws:SourceIp': '203.0.113.0/24' },
      },
    });
    const unknownOperator = canAssumeRole(policy, {
      principal: ATLAS_ROOT,
      externalId: EXTERNAL_ID,
    });
    expect(unknownOperator.allowed).toBe(false);
    expect(unknownOperator.unmet[0]?.issue).toEqual({
      kind: 'unknownOperator',
      operator: 'IpAddress',
    });
    const unknownKey = canAssumeRole(
      trust({
        ...standardTrust,
        Condition: {
          StringEquals: { 'sts:ExternalId': EXTERNAL_ID, 'aws:SourceVpc': 'vpc-1234' },
        },
      }),
      { principal: ATLAS_ROOT, externalId: EXTERNAL_ID },
    );
    expect(unknownKey.allowed).toBe(false);
    expect(unknownKey.unmet[0]?.issue).toEqual({
      kind: 'unknownKey',
      operator: 'StringEquals',
      key: 'aws:SourceVpc',
    });
    // A Deny on a key it does not know applies (the conservative reading).
    const denied = parsePolicy({
      Statement: [
        standardTrust,
        {
          Effect: 'Deny',
          Principal: '*',
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'aws:RequestedRegion': 'eu-west-1' } },
        },
      ],
    });
    expect(canAssumeRole(denied, { principal: ATLAS_ROOT, externalId: EXTERNAL_ID }).decision).toBe(
      'explicitDeny',
    );
  });
});

describe('bucket policies for an assumed-role session', () => {
  const ROLE = 'arn:aws:iam::123456789012:role/atlas-export';
  const SESSION = 'arn:aws:sts::123456789012:assumed-role/atlas-export/mongodb-atlas-export';
  const base = { Effect: 'Allow', Principal: { AWS: ROLE }, Action: 's3:PutObject', Resource: '*' };
  const put = (statements: object[], context: Record<string, string | undefined> = {}) =>
    evaluate(parsePolicy({ Statement: statements }), {
      action: 's3:PutObject',
      resource: 'arn:aws:s3:::b/k',
      principal: SESSION,
      principalRole: ROLE,
      context,
      knownKeys: ['aws:SourceVpce'],
    }).decision;

  it("a Principal naming the role covers the role's sessions", () => {
    expect(put([base])).toBe('allow');
    expect(put([{ ...base, Principal: { AWS: 'arn:aws:iam::123456789012:role/other' } }])).toBe(
      'implicitDeny',
    );
  });

  it('a Deny with NotPrincipal naming only the role still denies its session; listing the session too spares it', () => {
    const deny = (names: string[]) => ({
      Effect: 'Deny',
      NotPrincipal: { AWS: names },
      Action: 's3:*',
      Resource: '*',
    });
    expect(put([base, deny([ROLE])])).toBe('explicitDeny');
    expect(put([base, deny(['123456789012'])])).toBe('explicitDeny');
    expect(put([base, deny([ROLE, SESSION])])).toBe('allow');
  });

  it('a Deny unless aws:SourceVpce passes requests through that VPC endpoint only', () => {
    const onlyVpce = {
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: '*',
      Condition: { StringNotEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' } },
    };
    expect(put([base, onlyVpce], { 'aws:SourceVpce': 'vpce-0123456789abcdef0' })).toBe('allow');
    expect(put([base, onlyVpce], { 'aws:SourceVpce': 'vpce-0fedcba9876543210' })).toBe(
      'explicitDeny',
    );
    expect(put([base, onlyVpce])).toBe('explicitDeny');
  });
});
