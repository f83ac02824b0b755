import { describe, expect, it } from 'vitest';
import {
  BUCKET_POLICY_SIDS,
  bucketPolicyStatements,
  describePolicyChange,
  describeStatement,
  mergeBucketPolicy,
  ourBucketPolicySids,
  parsePolicyDocument,
  permissionPolicy,
  policiesEquivalent,
  removeStatements,
  statementsOf,
  trustPolicy,
  type PolicyDocument,
  type PolicyStatement,
} from '../../src/aws/policies.js';

const roleArn = 'arn:aws:iam::123456789012:role/atlas-export';
const foreign = {
  Sid: 'Audit',
  Effect: 'Allow' as const,
  Principal: { AWS: '111122223333' },
  Action: 's3:GetObject',
  Resource: 'arn:aws:s3:::b/*',
};

describe('documents we write', () => {
  it('trusts only the Atlas account, with the external id', () => {
    const policy = trustPolicy({
      atlasAWSAccountArn: 'arn:aws:iam::536727724300:root',
      externalId: 'ext-123',
    });
    expect(statementsOf(policy)).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::536727724300:root' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'ext-123' } },
      },
    ]);
  });

  it('grants exactly GetBucketLocation on the bucket and PutObject on its objects', () => {
    const statements = statementsOf(permissionPolicy({ bucket: 'b', partition: 'aws' }));
    expect(statements.map((s) => [s.Effect, s.Action, s.Resource])).toEqual([
      ['Allow', 's3:GetBucketLocation', 'arn:aws:s3:::b'],
      ['Allow', 's3:PutObject', 'arn:aws:s3:::b/*'],
    ]);
  });

  it('adds the KMS actions on that one key with SSE-KMS, in the right partition', () => {
    const key = 'arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const statements = statementsOf(
      permissionPolicy({ bucket: 'b', partition: 'aws-cn', kmsKeyArn: key }),
    );
    expect(statements[0]?.Resource).toBe('arn:aws-cn:s3:::b');
    expect(statements[2]).toMatchObject({
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: key,
    });
  });

  it('builds the TLS-only deny and the role allow with fixed Sids', () => {
    const statements = bucketPolicyStatements({ bucket: 'b', partition: 'aws', roleArn });
    expect(statements.map((s) => s.Sid)).toEqual([...ourBucketPolicySids]);
    expect(statements[0]).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect(statements[1]).toMatchObject({
      Principal: { AWS: roleArn },
      Action: 's3:GetBucketLocation',
      Resource: 'arn:aws:s3:::b',
    });
    expect(statements[2]).toMatchObject({
      Principal: { AWS: roleArn },
      Action: 's3:PutObject',
      Resource: 'arn:aws:s3:::b/*',
    });
  });
});

describe('merging and removing', () => {
  const ours = bucketPolicyStatements({ bucket: 'b', partition: 'aws', roleArn });

  it('creates a policy when there is none', () => {
    const result = mergeBucketPolicy(undefined, ours);
    expect(result.changed).toBe(true);
    expect(result.added).toEqual([...ourBucketPolicySids]);
    expect(result.document.Version).toBe('2012-10-17');
  });

  it('keeps foreign statements untouched, and is a no-op the second time', () => {
    const existing: PolicyDocument = { Version: '2012-10-17', Id: 'keep-me', Statement: foreign };
    const first = mergeBucketPolicy(existing, ours);
    expect(statementsOf(first.document)[0]).toBe(foreign);
    expect(first.document.Id).toBe('keep-me');
    const second = mergeBucketPolicy(first.document, ours);
    expect(second.changed).toBe(false);
    expect(second.added).toEqual([]);
  });

  it('replaces one of ours that drifted, in place', () => {
    const drifted = mergeBucketPolicy(undefined, ours).document;
    const statements = [...statementsOf(drifted)];
    statements[2] = { ...statements[2]!, Action: ['s3:PutObject', 's3:GetObject'] };
    const result = mergeBucketPolicy({ ...drifted, Statement: statements }, ours);
    expect(result.replaced).toEqual([BUCKET_POLICY_SIDS.allowPutObject]);
    expect(policiesEquivalent(result.document, drifted)).toBe(true);
  });

  it('removes ours and leaves the rest, or nothing at all', () => {
    const merged = mergeBucketPolicy(
      { Version: '2012-10-17', Statement: [foreign] },
      ours,
    ).document;
    expect(statementsOf(removeStatements(merged, ourBucketPolicySids))).toEqual([foreign]);
    expect(
      removeStatements(mergeBucketPolicy(undefined, ours).document, ourBucketPolicySids),
    ).toBeUndefined();
  });
});

describe('equivalence and diff', () => {
  it('ignores scalar/array, order, action case, principal spelling, condition key case and boolean types', () => {
    const a: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: '123456789012' },
          Action: 's3:PutObject',
          Resource: 'arn:aws:s3:::b/*',
        },
        {
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
          Condition: { Bool: { 'aws:SecureTransport': false } },
        },
      ],
    };
    const b: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: ['S3:*'],
          Resource: ['arn:aws:s3:::b/*', 'arn:aws:s3:::b'],
          Condition: { Bool: { 'AWS:SecureTransport': ['false'] } },
        },
        {
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::123456789012:root'] },
          Action: ['s3:PutObject'],
          Resource: ['arn:aws:s3:::b/*'],
        },
      ],
    };
    expect(policiesEquivalent(a, b)).toBe(true);
    expect(describePolicyChange(a, b)).toEqual([]);
  });

  it('sees real differences', () => {
    const base = permissionPolicy({ bucket: 'b', partition: 'aws' });
    expect(policiesEquivalent(base, permissionPolicy({ bucket: 'c', partition: 'aws' }))).toBe(
      false,
    );
    expect(policiesEquivalent(base, { ...base, Version: '2008-10-17' })).toBe(false);
    expect(policiesEquivalent(base, undefined)).toBe(false);
    const wider = {
      ...base,
      Statement: [
        ...statementsOf(base),
        { Effect: 'Allow' as const, Action: 's3:*', Resource: '*' },
      ],
    };
    expect(policiesEquivalent(base, wider)).toBe(false);
  });

  it('describes additions, removals and changes in plain lines', () => {
    const current = mergeBucketPolicy(
      { Version: '2012-10-17', Statement: [foreign] },
      bucketPolicyStatements({
        bucket: 'b',
        partition: 'aws',
        roleArn: 'arn:aws:iam::123456789012:role/old',
      }),
    ).document;
    const desired = mergeBucketPolicy(
      removeStatements(current, [BUCKET_POLICY_SIDS.denyInsecureTransport, 'Audit']),
      bucketPolicyStatements({ bucket: 'b', partition: 'aws', roleArn }),
    ).document;
    const lines = describePolicyChange(current, desired);
    expect(lines).toContain(
      `~ change ${BUCKET_POLICY_SIDS.allowPutObject}: Allow s3:PutObject on arn:aws:s3:::b/* for arn:aws:iam::123456789012:role/old`,
    );
    expect(lines).toContain(
      `    to ${BUCKET_POLICY_SIDS.allowPutObject}: Allow s3:PutObject on arn:aws:s3:::b/* for ${roleArn}`,
    );
    expect(lines).toContain(
      '- remove Audit: Allow s3:GetObject on arn:aws:s3:::b/* for arn:aws:iam::111122223333:root',
    );
    expect(
      describePolicyChange(undefined, desired).every((line) => line.startsWith('+ add ')),
    ).toBe(true);
    expect(
      describePolicyChange(
        undefined,
        mergeBucketPolicy(
          undefined,
          bucketPolicyStatements({ bucket: 'b', partition: 'aws', roleArn }),
        ).document,
      )[0],
    ).toBe(
      `+ add ${BUCKET_POLICY_SIDS.denyInsecureTransport}: Deny s3:* on arn:aws:s3:::b, arn:aws:s3:::b/* for anyone when aws:SecureTransport = false`,
    );
  });
});

describe('describing statements', () => {
  const atlasRoot = 'arn:aws:iam::536727724300:root';

  it('describes a trust statement by principal and external id, never "on" a resource', () => {
    const [statement] = statementsOf(
      trustPolicy({ atlasAWSAccountArn: atlasRoot, externalId: 'ext-1234' }),
    );
    expect(describeStatement(statement as PolicyStatement)).toBe(
      `Allow sts:AssumeRole for ${atlasRoot} when sts:ExternalId = ext-1234`,
    );
  });

  it('says what a trust-policy change changes, without empty "all but" or "anyone"', () => {
    const current = trustPolicy({ atlasAWSAccountArn: atlasRoot, externalId: 'old-external-id' });
    const desired = trustPolicy({ atlasAWSAccountArn: atlasRoot, externalId: 'new-external-id' });
    const lines = describePolicyChange(current, desired);
    expect(lines).toContain(
      `+ add Allow sts:AssumeRole for ${atlasRoot} when sts:ExternalId = new-external-id`,
    );
    expect(lines).toContain(
      `- remove Allow sts:AssumeRole for ${atlasRoot} when sts:ExternalId = old-external-id`,
    );
    for (const line of lines) {
      expect(line).not.toMatch(/ on |all but|anyone/);
    }
  });

  it('names account ids as root ARNs and other principal kinds by kind', () => {
    expect(
      describeStatement({
        Effect: 'Allow',
        Principal: { AWS: '123456789012' },
        Action: 'sts:AssumeRole',
      }),
    ).toBe('Allow sts:AssumeRole for arn:aws:iam::123456789012:root');
    expect(
      describeStatement({
        Effect: 'Allow',
        Principal: { Service: 'ec2.amazonaws.com' },
        Action: 'sts:AssumeRole',
      }),
    ).toBe('Allow sts:AssumeRole for service ec2.amazonaws.com');
    expect(
      describeStatement({
        Effect: 'Allow',
        Principal: '*',
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': ['a', 'b'] } },
      }),
    ).toBe('Allow sts:AssumeRole for anyone when sts:ExternalId = one of a, b');
    expect(
      describeStatement({
        Effect: 'Deny',
        NotPrincipal: { AWS: atlasRoot },
        Action: 'sts:AssumeRole',
      }),
    ).toBe(`Deny sts:AssumeRole for anyone but ${atlasRoot}`);
  });

  it('describes permission statements with their resources and no principal', () => {
    const lines = statementsOf(
      permissionPolicy({
        bucket: 'b',
        partition: 'aws',
        kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/k',
      }),
    ).map(describeStatement);
    expect(lines).toEqual([
      'AtlasExportBucketLocation: Allow s3:GetBucketLocation on arn:aws:s3:::b',
      'AtlasExportWriteObjects: Allow s3:PutObject on arn:aws:s3:::b/*',
      'AtlasExportUseBucketKey: Allow kms:Decrypt, kms:GenerateDataKey on arn:aws:kms:us-east-1:123456789012:key/k',
    ]);
    expect(
      describeStatement({
        Effect: 'Allow',
        NotAction: 'iam:*',
        NotResource: 'arn:aws:s3:::secret/*',
      }),
    ).toBe('Allow all actions but iam:* on all but arn:aws:s3:::secret/*');
    expect(
      describeStatement({
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: 'arn:aws:s3:::b/*',
        Condition: { StringLike: { 's3:prefix': 'exports/*' } },
      }),
    ).toBe('Allow s3:PutObject on arn:aws:s3:::b/* when s3:prefix like exports/*');
  });
});

describe('parsing', () => {
  it('reads plain and URL-encoded JSON', () => {
    const policy = permissionPolicy({ bucket: 'b', partition: 'aws' });
    expect(parsePolicyDocument(JSON.stringify(policy))).toEqual(policy);
    expect(parsePolicyDocument(encodeURIComponent(JSON.stringify(policy)))).toEqual(policy);
  });

  it('fails clearly on garbage', () => {
    expect(() => parsePolicyDocument('%E0%A4%A')).toThrow(/could not be read/);
    expect(() => parsePolicyDocument('{"Version":')).toThrow(/not valid JSON/);
    expect(() => parsePolicyDocument('{"Version":"2012-10-17"}')).toThrow(/no Statement/);
  });
});
