/**
 * Identifier rules, checked before any cloud call. A validator returns `undefined` when the value is
 * valid, or one line naming the value and the rule it breaks, e.g.
 * `bucket name "My_Bucket": must use only lowercase letters, digits and hyphens (S3 bucket naming rules)`.
 * The optional label replaces the default noun ("bucket name") so a message can name a flag or field.
 */
import { UsageError } from './errors.js';
import { partitionOf } from './regions.js';

export type Validator = (value: string, label?: string) => string | undefined;

/** One check for collectProblems: [label, value, validator]. An undefined value is "required". */
export type Check = [label: string, value: string | undefined, validator: Validator];

function problem(label: string, value: string, rule: string): string {
  return `${label} "${value}": ${rule}`;
}

/** Runs every check and returns every problem, so one message can list them all. */
export function collectProblems(checks: readonly Check[]): string[] {
  const problems: string[] = [];
  for (const [label, value, validator] of checks) {
    if (value === undefined || value === '') {
      problems.push(`${label}: is required`);
      continue;
    }
    const found = validator(value, label);
    if (found) problems.push(found);
  }
  return problems;
}

/** Throws one UsageError listing every problem; does nothing when all checks pass. */
export function assertValid(checks: readonly Check[]): void {
  const problems = collectProblems(checks);
  if (problems.length === 0) return;
  const message =
    problems.length === 1
      ? (problems[0] ?? '')
      : `${problems.length} problems:\n  ${problems.join('\n  ')}`;
  throw new UsageError(message, {
    code: 'INVALID_INPUT',
    hint: 'Correct the values above and run the command again.',
  });
}

// Atlas identifiers ------------------------------------------------------------------------------

const ATLAS_ID = /^[a-f0-9]{24}$/;

function atlasId(defaultLabel: string): Validator {
  return (value, label = defaultLabel) => {
    if (ATLAS_ID.test(value)) return undefined;
    const hint = /^[A-F0-9]{24}$/i.test(value) ? ' (use lowercase)' : '';
    return problem(label, value, `must be 24 hexadecimal characters${hint} (Atlas id)`);
  };
}

export const validateProjectId = atlasId('project id');
export const validateRoleId = atlasId('Atlas role id');
export const validateSnapshotId = atlasId('snapshot id');
export const validateExportJobId = atlasId('export job id');
export const validateExportBucketId = atlasId('export bucket id');

/**
 * Atlas cluster names: the spec's pattern `^[a-zA-Z0-9][a-zA-Z0-9-]*$`, and at most 64 characters
 * (the limit Atlas applies when a cluster is created).
 */
export const validateClusterName: Validator = (value, label = 'cluster name') => {
  if (value.length > 64)
    return problem(label, value, 'must be at most 64 characters (Atlas cluster names)');
  if (!/^[a-zA-Z0-9]/.test(value))
    return problem(label, value, 'must start with a letter or digit (Atlas cluster names)');
  if (!/^[a-zA-Z0-9-]+$/.test(value)) {
    return problem(
      label,
      value,
      'must use only ASCII letters, digits and hyphens (Atlas cluster names)',
    );
  }
  return undefined;
};

// S3 bucket names --------------------------------------------------------------------------------

const BUCKET_RULES = '(S3 bucket naming rules)';
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
/** Suffixes S3 reserves for access point aliases, Object Lambda, Multi-Region Access Points, directory and table buckets. */
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** The general-purpose bucket rules S3 enforces, first broken rule only. */
function s3BucketRule(value: string, characters: string): string | undefined {
  if (value.length < 3 || value.length > 63)
    return `must be 3 to 63 characters long, not ${value.length} ${BUCKET_RULES}`;
  if (!/^[a-z0-9.-]+$/.test(value)) return `must use only ${characters} ${BUCKET_RULES}`;
  if (!/^[a-z0-9]/.test(value) || !/[a-z0-9]$/.test(value)) {
    return `must start and end with a lowercase letter or digit ${BUCKET_RULES}`;
  }
  if (value.includes('..')) return `must not contain two adjacent dots ${BUCKET_RULES}`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value))
    return `must not look like an IP address ${BUCKET_RULES}`;
  const prefix = RESERVED_PREFIXES.find((reserved) => value.startsWith(reserved));
  if (prefix) return `must not start with the reserved prefix "${prefix}" ${BUCKET_RULES}`;
  const suffix = RESERVED_SUFFIXES.find((reserved) => value.endsWith(reserved));
  if (suffix) return `must not end with the reserved suffix "${suffix}" ${BUCKET_RULES}`;
  return undefined;
}

/** S3's own general-purpose bucket rules (dots allowed), for names this tool did not choose. */
export const validateS3BucketName: Validator = (value, label = 'bucket name') => {
  const rule = s3BucketRule(value, 'lowercase letters, digits, hyphens and dots');
  return rule ? problem(label, value, rule) : undefined;
};

/**
 * S3 bucket names, plus this tool's own rule: no dots. A dotted name does not match the
 * `*.s3.<region>.amazonaws.com` certificate, so virtual-hosted-style HTTPS requests to it fail TLS
 * verification.
 */
export const validateBucketName: Validator = (value, label = 'bucket name') => {
  // The character rule names hyphens only: dots pass S3's rules but are refused just below.
  const rule = s3BucketRule(value, 'lowercase letters, digits and hyphens');
  if (rule) return problem(label, value, rule);
  if (value.includes('.')) {
    return problem(
      label,
      value,
      'must not contain dots: S3 allows them, but a dotted name breaks TLS for virtual-hosted-style requests (atlas-pl-export rule)',
    );
  }
  return undefined;
};

// AWS identifiers --------------------------------------------------------------------------------

export const validateAccountId: Validator = (value, label = 'AWS account id') =>
  /^\d{12}$/.test(value)
    ? undefined
    : problem(label, value, 'must be exactly 12 digits (AWS account id)');

/** IAM role names: 1 to 64 characters of letters, digits and + = , . @ _ - */
export const validateRoleName: Validator = (value, label = 'IAM role name') => {
  if (value.length > 64)
    return problem(
      label,
      value,
      `must be at most 64 characters, not ${value.length} (IAM role names)`,
    );
  if (!/^[\w+=,.@-]+$/.test(value)) {
    return problem(
      label,
      value,
      'must use only letters, digits and + = , . @ _ - (IAM role names)',
    );
  }
  return undefined;
};

/** arn:partition:service:region:account:resource */
const ARN = /^arn:(aws(?:-[a-z]+)*):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|aws|):(.+)$/;

export interface ArnParts {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

export function parseArn(value: string): ArnParts | undefined {
  const match = ARN.exec(value);
  if (!match) return undefined;
  const [, partition = '', service = '', region = '', account = '', resource = ''] = match;
  return { partition, service, region, account, resource };
}

export const validateArn: Validator = (value, label = 'ARN') =>
  parseArn(value)
    ? undefined
    : problem(
        label,
        value,
        'must have the form arn:<partition>:<service>:<region>:<account>:<resource> (AWS ARN)',
      );

/** arn:<partition>:iam::<12-digit account>:role/[path/]name */
export const validateRoleArn: Validator = (value, label = 'IAM role ARN') => {
  const parts = parseArn(value);
  const form = 'must have the form arn:aws:iam::<12-digit account>:role/<name> (IAM role ARN)';
  if (!parts || parts.service !== 'iam' || parts.region !== '' || !/^\d{12}$/.test(parts.account)) {
    return problem(label, value, form);
  }
  const match = /^role\/(?:[\x21-\x7e]*\/)?([^/]+)$/.exec(parts.resource);
  if (!match) return problem(label, value, form);
  const nameProblem = validateRoleName(match[1] ?? '', 'role name');
  return nameProblem ? problem(label, value, `has an invalid ${nameProblem}`) : undefined;
};

const KEY_ID =
  /^key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const ALIAS = /^alias\/[a-zA-Z0-9/_-]{1,256}$/;

/** arn:<partition>:kms:<region>:<account>:key/<key id or mrk-id>, or ...:alias/<name>. */
export const validateKmsKeyArn: Validator = (value, label = 'KMS key ARN') => {
  const parts = parseArn(value);
  const ok =
    parts !== undefined &&
    parts.service === 'kms' &&
    /^[a-z]{2}(-[a-z]+)+-\d$/.test(parts.region) &&
    /^\d{12}$/.test(parts.account) &&
    (KEY_ID.test(parts.resource) || ALIAS.test(parts.resource));
  if (ok) return undefined;
  return problem(
    label,
    value,
    'must be a KMS key ARN, arn:aws:kms:<region>:<12-digit account>:key/<key id> (not an alias: IAM permissions on an alias do not cover its key)',
  );
};

/** True when the KMS ARN names an alias rather than a key. */
export function isKmsAliasArn(value: string): boolean {
  return parseArn(value)?.resource.startsWith('alias/') ?? false;
}

/**
 * Where S3 can use a KMS key for a bucket's default encryption: a key of the bucket's own region,
 * in that region's partition (aws for the commercial regions). Undefined when the key can be used,
 * or when the ARN is malformed (validateKmsKeyArn reports that).
 */
export function kmsKeyPlacementProblem(
  value: string,
  bucketRegion: string | undefined,
  label = 'KMS key ARN',
): string | undefined {
  const parts = parseArn(value);
  if (!parts) return undefined;
  const expected = partitionOf(bucketRegion ?? parts.region);
  if (parts.partition !== expected) {
    return problem(
      label,
      value,
      `is in the ${parts.partition} partition, but ${bucketRegion ? `the bucket region ${bucketRegion}` : `its region ${parts.region}`} is in ${expected}; give the key's ARN as AWS shows it (arn:${expected}:kms:...)`,
    );
  }
  if (bucketRegion && parts.region !== bucketRegion) {
    return problem(
      label,
      value,
      `is in ${parts.region}, but the bucket is in ${bucketRegion}; S3 can only encrypt with a KMS key of the bucket's own region`,
    );
  }
  return undefined;
}
