import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import {
  assertValid,
  collectProblems,
  isKmsAliasArn,
  validateAccountId,
  validateArn,
  validateBucketName,
  validateClusterName,
  validateExportBucketId,
  validateKmsKeyArn,
  validateProjectId,
  validateRoleArn,
  validateRoleName,
  validateS3BucketName,
  validateSnapshotId,
} from '../src/validate.js';

describe('Atlas ids', () => {
  it('accepts 24 lowercase hex characters and names the rule otherwise', () => {
    expect(validateProjectId('5f1a2b3c4d5e6f7a8b9c0d1e')).toBeUndefined();
    expect(validateProjectId('5f1a2b3c')).toBe(
      'project id "5f1a2b3c": must be 24 hexadecimal characters (Atlas id)',
    );
    expect(validateSnapshotId('5F1A2B3C4D5E6F7A8B9C0D1E')).toContain('(use lowercase)');
    expect(validateExportBucketId('zz1a2b3c4d5e6f7a8b9c0d1e', '--export-bucket-id')).toMatch(
      /^--export-bucket-id "/,
    );
  });
});

describe('cluster names', () => {
  it('follows the spec pattern and the 64-character limit', () => {
    expect(validateClusterName('Cluster0')).toBeUndefined();
    expect(validateClusterName('my-cluster-1')).toBeUndefined();
    expect(validateClusterName('-cluster')).toContain('must start with a letter or digit');
    expect(validateClusterName('my_cluster')).toContain('only ASCII letters, digits and hyphens');
    expect(validateClusterName('a'.repeat(65))).toContain('at most 64');
  });
});

describe('bucket names', () => {
  const rule = (name: string) => validateBucketName(name);
  it('accepts a plain name', () => {
    expect(rule('atlas-exports-123')).toBeUndefined();
    expect(rule('abc')).toBeUndefined();
    expect(rule('a'.repeat(63))).toBeUndefined();
  });

  it('names each broken S3 rule', () => {
    expect(rule('My_Bucket')).toBe(
      'bucket name "My_Bucket": must use only lowercase letters, digits and hyphens (S3 bucket naming rules)',
    );
    expect(rule('ab')).toContain('must be 3 to 63 characters long, not 2');
    expect(rule('a'.repeat(64))).toContain('not 64');
    expect(rule('-abc')).toContain('must start and end with a lowercase letter or digit');
    expect(rule('abc-')).toContain('must start and end');
    expect(rule('a..b')).toContain('two adjacent dots');
    expect(rule('192.168.5.4')).toContain('IP address');
    expect(rule('xn--bucket')).toContain('prefix "xn--"');
    expect(rule('sthree-bucket')).toContain('prefix "sthree-"');
    expect(rule('amzn-s3-demo-bucket')).toContain('prefix "amzn-s3-demo-"');
    expect(rule('bucket-s3alias')).toContain('suffix "-s3alias"');
    expect(rule('bucket--ol-s3')).toContain('suffix "--ol-s3"');
    expect(rule('bucket.mrap')).toContain('suffix ".mrap"');
    expect(rule('bucket--x-s3')).toContain('suffix "--x-s3"');
  });

  it('refuses dotted names with the reason, though S3 allows them', () => {
    expect(validateS3BucketName('my.bucket')).toBeUndefined();
    expect(rule('my.bucket')).toContain('must not contain dots');
    expect(rule('my.bucket')).toContain('TLS');
  });
});

describe('AWS identifiers', () => {
  it('checks account ids', () => {
    expect(validateAccountId('123456789012')).toBeUndefined();
    expect(validateAccountId('12345678901')).toContain('exactly 12 digits');
    expect(validateAccountId('12345678901a')).toContain('exactly 12 digits');
  });

  it('checks role names', () => {
    expect(validateRoleName('atlas-export_role+=,.@')).toBeUndefined();
    expect(validateRoleName('a'.repeat(64))).toBeUndefined();
    expect(validateRoleName('a'.repeat(65))).toContain('at most 64');
    expect(validateRoleName('has space')).toContain('only letters, digits and + = , . @ _ -');
  });

  it('checks ARNs in general', () => {
    expect(validateArn('arn:aws:s3:::bucket')).toBeUndefined();
    expect(validateArn('arn:aws:iam::aws:policy/ReadOnlyAccess')).toBeUndefined();
    expect(validateArn('arn:aws-us-gov:sqs:us-gov-west-1:123456789012:queue')).toBeUndefined();
    expect(validateArn('aws:s3:::bucket')).toContain('arn:<partition>:<service>');
    expect(validateArn('arn:aws:s3:::')).toContain('arn:<partition>');
  });

  it('checks role ARNs', () => {
    expect(validateRoleArn('arn:aws:iam::123456789012:role/atlas-export')).toBeUndefined();
    expect(validateRoleArn('arn:aws-cn:iam::123456789012:role/service/path/atlas')).toBeUndefined();
    expect(validateRoleArn('arn:aws:iam::123456789012:user/alice')).toContain('IAM role ARN');
    expect(validateRoleArn('arn:aws:iam::12345:role/x')).toContain('IAM role ARN');
    expect(validateRoleArn('arn:aws:iam:us-east-1:123456789012:role/x')).toContain('IAM role ARN');
    expect(validateRoleArn('arn:aws:iam::123456789012:role/bad name')).toContain(
      'invalid role name',
    );
  });

  it('checks KMS key ARNs, keys and aliases', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(validateKmsKeyArn(key)).toBeUndefined();
    expect(
      validateKmsKeyArn(
        'arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab',
      ),
    ).toBeUndefined();
    expect(validateKmsKeyArn('arn:aws:kms:us-east-1:123456789012:alias/exports')).toBeUndefined();
    expect(isKmsAliasArn('arn:aws:kms:us-east-1:123456789012:alias/exports')).toBe(true);
    expect(isKmsAliasArn(key)).toBe(false);
    expect(validateKmsKeyArn('1234abcd-12ab-34cd-56ef-1234567890ab')).toContain('KMS key ARN');
    expect(
      validateKmsKeyArn('arn:aws:kms::123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
    ).toContain('KMS key ARN');
    expect(
      validateKmsKeyArn(
        'arn:aws:s3:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      ),
    ).toContain('KMS');
    expect(validateKmsKeyArn('arn:aws:kms:eu-west-1:123456789012:key/not-a-uuid')).toContain(
      'KMS key ARN',
    );
  });
});

describe('collecting problems', () => {
  it('returns every problem at once, labelled, and "required" for missing values', () => {
    const problems = collectProblems([
      ['--bucket', 'My_Bucket', validateBucketName],
      ['--project-id', '5f1a2b3c4d5e6f7a8b9c0d1e', validateProjectId],
      ['--role-name', 'bad name', validateRoleName],
      ['--cluster', undefined, validateClusterName],
    ]);
    expect(problems).toEqual([
      '--bucket "My_Bucket": must use only lowercase letters, digits and hyphens (S3 bucket naming rules)',
      '--role-name "bad name": must use only letters, digits and + = , . @ _ - (IAM role names)',
      '--cluster: is required',
    ]);
  });

  it('assertValid throws one UsageError listing all problems', () => {
    expect(() => assertValid([['--bucket', 'abc', validateBucketName]])).not.toThrow();
    try {
      assertValid([
        ['--bucket', 'a', validateBucketName],
        ['--account', 'x', validateAccountId],
      ]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).message).toContain('2 problems');
      expect((error as UsageError).message).toContain('--account "x"');
      expect((error as UsageError).exitCode).toBe(2);
    }
  });
});
