/**
 * The IAM policy documents this tool writes (the role's trust policy, its permission policy, and
 * its statements in the bucket policy), and the comparisons used to detect and repair drift.
 * Pure: no AWS calls.
 */
import { CliError, ExitCode } from '../errors.js';

export type OneOrMany<T> = T | T[];

export type Principal = '*' | Record<string, OneOrMany<string>>;

export type ConditionBlock = Record<string, Record<string, OneOrMany<string | boolean | number>>>;

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: Principal;
  NotPrincipal?: Principal;
  Action?: OneOrMany<string>;
  NotAction?: OneOrMany<string>;
  Resource?: OneOrMany<string>;
  NotResource?: OneOrMany<string>;
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: OneOrMany<PolicyStatement>;
}

export const POLICY_VERSION = '2012-10-17';

/** The Sids of our statements in the bucket policy; anything else in that policy is not ours. */
export const BUCKET_POLICY_SIDS = {
  denyInsecureTransport: 'AtlasPlExportDenyInsecureTransport',
  allowBucketLocation: 'AtlasPlExportAllowBucketLocation',
  allowPutObject: 'AtlasPlExportAllowPutObject',
} as const;

export const ourBucketPolicySids: readonly string[] = Object.values(BUCKET_POLICY_SIDS);

export function statementsOf(document: PolicyDocument | undefined): PolicyStatement[] {
  if (!document) return [];
  return Array.isArray(document.Statement) ? document.Statement : [document.Statement];
}

function bucketArn(partition: string, bucket: string): string {
  return `arn:${partition}:s3:::${bucket}`;
}

// The documents we write -------------------------------------------------------------------------

/** Lets only Atlas's AWS account assume the role, and only with the external id Atlas gave us. */
export function trustPolicy(input: {
  atlasAWSAccountArn: string;
  externalId: string;
}): PolicyDocument {
  return {
    Version: POLICY_VERSION,
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: input.atlasAWSAccountArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': input.externalId } },
      },
    ],
  };
}

/**
 * What Atlas documents for snapshot export, nothing broader: the bucket's location, and writing
 * objects. With SSE-KMS the role also needs kms:GenerateDataKey (to encrypt each object) and
 * kms:Decrypt (S3 needs it to complete multipart uploads of KMS-encrypted objects) on that one key.
 */
export function permissionPolicy(input: {
  bucket: string;
  partition: string;
  kmsKeyArn?: string;
}): PolicyDocument {
  const arn = bucketArn(input.partition, input.bucket);
  const statements: PolicyStatement[] = [
    {
      Sid: 'AtlasExportBucketLocation',
      Effect: 'Allow',
      Action: 's3:GetBucketLocation',
      Resource: arn,
    },
    {
      Sid: 'AtlasExportWriteObjects',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: `${arn}/*`,
    },
  ];
  if (input.kmsKeyArn) {
    statements.push({
      Sid: 'AtlasExportUseBucketKey',
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: input.kmsKeyArn,
    });
  }
  return { Version: POLICY_VERSION, Statement: statements };
}

/**
 * Our bucket-policy statements: TLS only for everyone, and for the role Atlas assumes exactly the two
 * actions it needs, each on the resource it applies to.
 */
export function bucketPolicyStatements(input: {
  bucket: string;
  partition: string;
  roleArn: string;
}): PolicyStatement[] {
  const arn = bucketArn(input.partition, input.bucket);
  return [
    {
      Sid: BUCKET_POLICY_SIDS.denyInsecureTransport,
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [arn, `${arn}/*`],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
    {
      Sid: BUCKET_POLICY_SIDS.allowBucketLocation,
      Effect: 'Allow',
      Principal: { AWS: input.roleArn },
      Action: 's3:GetBucketLocation',
      Resource: arn,
    },
    {
      Sid: BUCKET_POLICY_SIDS.allowPutObject,
      Effect: 'Allow',
      Principal: { AWS: input.roleArn },
      Action: 's3:PutObject',
      Resource: `${arn}/*`,
    },
  ];
}

// Merging and removing ---------------------------------------------------------------------------

export interface MergeResult {
  document: PolicyDocument;
  /** False when the existing policy already held our statements, equivalent. */
  changed: boolean;
  /** Sids of our statements that were missing. */
  added: string[];
  /** Sids of our statements that were present but different, and were replaced. */
  replaced: string[];
  /** Sids of statements present under one of our Sids but left untouched (`mayReplace` said no). */
  left: string[];
}

/**
 * Puts our statements into a bucket policy, leaving every statement that is not ours untouched.
 * Ours are recognised by Sid; one that differs is replaced in place (unless `mayReplace` says the
 * one there is not ours to rewrite), a missing one is appended.
 */
export function mergeBucketPolicy(
  existing: PolicyDocument | undefined,
  ours: PolicyStatement[],
  mayReplace: (present: PolicyStatement) => boolean = () => true,
): MergeResult {
  const statements = [...statementsOf(existing)];
  const added: string[] = [];
  const replaced: string[] = [];
  const left: string[] = [];
  for (const statement of ours) {
    const sid = statement.Sid ?? '';
    const index = statements.findIndex((candidate) => candidate.Sid === sid);
    if (index === -1) {
      statements.push(statement);
      added.push(sid);
    } else if (!statementsEquivalent(statements[index] as PolicyStatement, statement)) {
      if (!mayReplace(statements[index] as PolicyStatement)) {
        left.push(sid);
        continue;
      }
      statements[index] = statement;
      replaced.push(sid);
    }
  }
  const document: PolicyDocument = {
    ...existing,
    Version: existing?.Version ?? POLICY_VERSION,
    Statement: statements,
  };
  return { document, changed: added.length + replaced.length > 0, added, replaced, left };
}

/** The AWS principals a statement names (ARNs, or unique ids of deleted roles). */
export function awsPrincipalsOf(statement: PolicyStatement): string[] {
  const principal = statement.Principal;
  if (!principal || principal === '*') return [];
  const aws = principal.AWS;
  if (aws === undefined) return [];
  return Array.isArray(aws) ? aws : [aws];
}

/**
 * The statements under atlas-pl-export's Sids (`AtlasPlExport...`) that name another AWS principal
 * than `roleArn`: another setup's statements on a shared bucket, which this setup must not rewrite.
 */
export function foreignExportStatements(
  document: PolicyDocument | undefined,
  roleArn: string,
): Array<{ sid: string; principals: string[] }> {
  return statementsOf(document)
    .filter((statement) => (statement.Sid ?? '').startsWith('AtlasPlExport'))
    .map((statement) => ({
      sid: statement.Sid!,
      principals: awsPrincipalsOf(statement).filter((principal) => principal !== roleArn),
    }))
    .filter((found) => found.principals.length > 0);
}

/** The policy without the statements of these Sids; undefined when nothing remains. */
export function removeStatements(
  existing: PolicyDocument | undefined,
  sids: readonly string[],
): PolicyDocument | undefined {
  const kept = statementsOf(existing).filter((statement) => !sids.includes(statement.Sid ?? ''));
  if (kept.length === 0) return undefined;
  return { ...existing, Statement: kept };
}

// Equivalence ------------------------------------------------------------------------------------

function sortedUnique(values: OneOrMany<string> | undefined, lower = false): string[] | undefined {
  if (values === undefined) return undefined;
  const list = (Array.isArray(values) ? values : [values]).map((value) =>
    lower ? value.toLowerCase() : value,
  );
  return [...new Set(list)].sort();
}

/** IAM stores `"123456789012"` as the account's root ARN, and `"*"` is the same as `{"AWS": "*"}`. */
function normalisePrincipal(
  principal: Principal | undefined,
): Record<string, string[]> | undefined {
  if (principal === undefined) return undefined;
  const map: Record<string, OneOrMany<string>> = principal === '*' ? { AWS: '*' } : principal;
  const result: Record<string, string[]> = {};
  for (const key of Object.keys(map).sort()) {
    const values = sortedUnique(map[key]) ?? [];
    result[key] =
      key === 'AWS'
        ? values
            .map((value) => (/^\d{12}$/.test(value) ? `arn:aws:iam::${value}:root` : value))
            .sort()
        : values;
  }
  return result;
}

/** Condition operators are case-sensitive, condition keys are not; values compare as strings. */
function normaliseCondition(
  condition: ConditionBlock | undefined,
): Record<string, Record<string, string[]>> | undefined {
  if (condition === undefined) return undefined;
  const result: Record<string, Record<string, string[]>> = {};
  for (const operator of Object.keys(condition).sort()) {
    const pairs = condition[operator] ?? {};
    const normalised: Record<string, string[]> = {};
    for (const key of Object.keys(pairs)) {
      const raw = pairs[key];
      const values = (Array.isArray(raw) ? raw : [raw]).map((value) => String(value));
      normalised[key.toLowerCase()] = [...new Set(values)].sort();
    }
    result[operator] = Object.fromEntries(
      Object.entries(normalised).sort(([a], [b]) => a.localeCompare(b)),
    );
  }
  return result;
}

/** A canonical JSON form: scalars as arrays, sorted, actions lower-cased, principals normalised. */
export function canonicalStatement(statement: PolicyStatement): string {
  return JSON.stringify({
    Sid: statement.Sid ?? '',
    Effect: statement.Effect,
    Principal: normalisePrincipal(statement.Principal),
    NotPrincipal: normalisePrincipal(statement.NotPrincipal),
    Action: sortedUnique(statement.Action, true),
    NotAction: sortedUnique(statement.NotAction, true),
    Resource: sortedUnique(statement.Resource),
    NotResource: sortedUnique(statement.NotResource),
    Condition: normaliseCondition(statement.Condition),
  });
}

export function statementsEquivalent(a: PolicyStatement, b: PolicyStatement): boolean {
  return canonicalStatement(a) === canonicalStatement(b);
}

/** Same statements (in any order, in any of IAM's equivalent spellings) and the same Version. */
export function policiesEquivalent(
  a: PolicyDocument | undefined,
  b: PolicyDocument | undefined,
): boolean {
  if (!a || !b) return a === b;
  if ((a.Version ?? '2008-10-17') !== (b.Version ?? '2008-10-17')) return false;
  const left = statementsOf(a).map(canonicalStatement).sort();
  const right = statementsOf(b).map(canonicalStatement).sort();
  return left.length === right.length && left.every((value, index) => value === right[index]);
}

// Describing a change ----------------------------------------------------------------------------

function list(values: OneOrMany<string> | undefined): string {
  return sortedUnique(values)?.join(', ') ?? '';
}

const PRINCIPAL_KINDS: Record<string, string> = {
  AWS: '',
  Service: 'service ',
  Federated: 'federated ',
  CanonicalUser: 'canonical user ',
};

function principalNames(principal: Principal | undefined): string | undefined {
  const normalised = normalisePrincipal(principal);
  if (!normalised) return undefined;
  const names = Object.entries(normalised).flatMap(([kind, values]) =>
    values.map((value) =>
      value === '*' ? 'anyone' : `${PRINCIPAL_KINDS[kind] ?? `${kind} `}${value}`,
    ),
  );
  return names.includes('anyone') ? 'anyone' : names.join(', ');
}

/** ` for arn:aws:iam::111122223333:root`, ` for anyone`, ` for anyone but …`; empty when there is no principal. */
function describePrincipal(statement: PolicyStatement): string {
  const principal = principalNames(statement.Principal);
  if (principal !== undefined) return ` for ${principal}`;
  const notPrincipal = principalNames(statement.NotPrincipal);
  return notPrincipal !== undefined ? ` for anyone but ${notPrincipal}` : '';
}

/** Brief spellings of the common operators; any other operator is shown by its name. */
const CONDITION_OPERATORS: Record<string, string> = {
  StringEquals: '=',
  StringNotEquals: '!=',
  StringEqualsIgnoreCase: '= (any case)',
  StringLike: 'like',
  StringNotLike: 'not like',
  ArnEquals: '=',
  ArnLike: 'like',
  ArnNotEquals: '!=',
  ArnNotLike: 'not like',
  NumericEquals: '=',
  NumericNotEquals: '!=',
  Bool: '=',
  IpAddress: 'in',
  NotIpAddress: 'not in',
};

function conditionValues(raw: OneOrMany<string | boolean | number> | undefined): string {
  const values = (Array.isArray(raw) ? raw : [raw]).map((value) => String(value));
  return values.length === 1 ? (values[0] as string) : `one of ${values.join(', ')}`;
}

/** ` when sts:ExternalId = abc and aws:SecureTransport = false`; keys keep the case they were written in. */
function describeCondition(condition: ConditionBlock | undefined): string {
  if (!condition) return '';
  const parts = Object.keys(condition)
    .sort()
    .flatMap((operator) => {
      const pairs = condition[operator] ?? {};
      const shown = CONDITION_OPERATORS[operator] ?? operator;
      return Object.keys(pairs)
        .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))
        .map((key) => `${key} ${shown} ${conditionValues(pairs[key])}`);
    });
  return parts.length ? ` when ${parts.join(' and ')}` : '';
}

/** ` on a, b`, ` on all but a`; empty for a statement without a resource (a trust policy's). */
function describeResources(statement: PolicyStatement): string {
  if (statement.Resource !== undefined) return ` on ${list(statement.Resource)}`;
  if (statement.NotResource !== undefined) return ` on all but ${list(statement.NotResource)}`;
  return '';
}

function describeActions(statement: PolicyStatement): string {
  if (statement.Action !== undefined) return list(statement.Action);
  if (statement.NotAction !== undefined) return `all actions but ${list(statement.NotAction)}`;
  return '(no action)';
}

/**
 * One line: `Deny s3:* on arn:aws:s3:::b, arn:aws:s3:::b/* for anyone when aws:SecureTransport = false`,
 * or for a trust statement `Allow sts:AssumeRole for arn:aws:iam::123456789012:root when sts:ExternalId = …`.
 */
export function describeStatement(statement: PolicyStatement): string {
  const sid = statement.Sid ? `${statement.Sid}: ` : '';
  return `${sid}${statement.Effect} ${describeActions(statement)}${describeResources(statement)}${describePrincipal(statement)}${describeCondition(statement.Condition)}`;
}

/**
 * Human-readable lines saying what turning `current` into `desired` adds, removes and changes.
 * Statements are matched by Sid, and those without one by their content. Empty when equivalent.
 */
export function describePolicyChange(
  current: PolicyDocument | undefined,
  desired: PolicyDocument | undefined,
): string[] {
  const lines: string[] = [];
  const before = statementsOf(current);
  const after = statementsOf(desired);
  const key = (statement: PolicyStatement) => statement.Sid ?? canonicalStatement(statement);
  const beforeByKey = new Map(before.map((statement) => [key(statement), statement]));
  const afterKeys = new Set(after.map(key));
  if (
    current &&
    desired &&
    (current.Version ?? '2008-10-17') !== (desired.Version ?? '2008-10-17')
  ) {
    lines.push(
      `~ change Version from ${current.Version ?? '(none)'} to ${desired.Version ?? '(none)'}`,
    );
  }
  for (const statement of after) {
    const previous = beforeByKey.get(key(statement));
    if (!previous) lines.push(`+ add ${describeStatement(statement)}`);
    else if (!statementsEquivalent(previous, statement)) {
      lines.push(
        `~ change ${describeStatement(previous)}`,
        `    to ${describeStatement(statement)}`,
      );
    }
  }
  for (const statement of before) {
    if (!afterKeys.has(key(statement))) lines.push(`- remove ${describeStatement(statement)}`);
  }
  return lines;
}

// Parsing ----------------------------------------------------------------------------------------

/** Parses a policy as IAM returns it (URL-encoded JSON) or as S3 returns it (plain JSON). */
export function parsePolicyDocument(text: string): PolicyDocument {
  const trimmed = text.trim();
  let decoded = trimmed;
  if (!trimmed.startsWith('{')) {
    try {
      decoded = decodeURIComponent(trimmed);
    } catch {
      throw invalidPolicy('it is neither JSON nor URL-encoded JSON');
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoded);
  } catch (error) {
    throw invalidPolicy(`it is not valid JSON (${(error as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || !('Statement' in parsed))
    throw invalidPolicy('it has no Statement');
  return parsed as PolicyDocument;
}

function invalidPolicy(why: string): CliError {
  return new CliError(`A policy document returned by AWS could not be read: ${why}.`, {
    code: 'AWS_POLICY_UNREADABLE',
    exitCode: ExitCode.cloud,
    hint: 'Inspect the policy in the AWS console; rerun with --debug to see the call.',
  });
}
