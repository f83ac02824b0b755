/**
 * Pure evaluation of the policy documents the report inspects: does a bucket policy deny non-TLS
 * requests, does a trust policy let only Atlas in (with its external id), and which permissions of
 * the role go beyond the documented minimum. Each function returns findings in plain words.
 */
import {
  statementsOf,
  type OneOrMany,
  type PolicyDocument,
  type PolicyStatement,
  type Principal,
} from '../aws/policies.js';

const asList = <T>(value: OneOrMany<T> | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM wildcard match (`*` any run, `?` one character). */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, ignoreCase ? 'i' : '').test(value);
}

const hasWildcard = (value: string) => /[*?]/.test(value);

/** The AWS principals of a statement; `['*']` for everyone. Other principal kinds are returned as `Service:x`. */
export function principalsOf(principal: Principal | undefined): string[] {
  if (principal === undefined) return [];
  if (principal === '*') return ['*'];
  return Object.entries(principal).flatMap(([kind, values]) =>
    asList(values).map((value) =>
      kind === 'AWS'
        ? /^\d{12}$/.test(value)
          ? `arn:aws:iam::${value}:root`
          : value
        : `${kind}:${value}`,
    ),
  );
}

function actionCovered(statement: PolicyStatement, action: string): boolean {
  if (statement.NotAction !== undefined)
    return !asList(statement.NotAction).some((p) => wildcardMatch(p, action, true));
  return asList(statement.Action).some((p) => wildcardMatch(p, action, true));
}

function resourceCovered(statement: PolicyStatement, resource: string): boolean {
  if (statement.NotResource !== undefined)
    return !asList(statement.NotResource).some((p) => wildcardMatch(p, resource));
  return asList(statement.Resource).some((p) => wildcardMatch(p, resource));
}

/** True for exactly `Bool` (or `BoolIfExists`) `aws:SecureTransport` = false and no other condition. */
function onlyInsecureTransportCondition(statement: PolicyStatement): boolean {
  const condition = statement.Condition ?? {};
  const entries = Object.entries(condition).flatMap(([operator, pairs]) =>
    Object.entries(pairs).map(([key, value]) => ({ operator, key, value })),
  );
  if (entries.length !== 1) return false;
  const [entry] = entries;
  if (
    !entry ||
    !['Bool', 'BoolIfExists'].includes(entry.operator) ||
    entry.key.toLowerCase() !== 'aws:securetransport'
  )
    return false;
  const values = asList(entry.value).map((value) => String(value).toLowerCase());
  return values.length === 1 && values[0] === 'false';
}

export interface TlsDenyResult {
  /** The Sid (or a description) of the statement that denies non-TLS requests, when one does. */
  statement: string | undefined;
  /** Why each Deny statement that mentions aws:SecureTransport does not qualify. */
  near: string[];
}

/**
 * Finds a statement that denies everyone every object read and write on the bucket and its objects
 * when the request is not over TLS.
 */
export function findTlsDeny(policy: PolicyDocument | undefined, bucketArn: string): TlsDenyResult {
  const near: string[] = [];
  const sample = `${bucketArn}/exported_snapshots/any-object`;
  for (const [index, statement] of statementsOf(policy).entries()) {
    if (statement.Effect !== 'Deny') continue;
    const label = statement.Sid ?? `statement ${index + 1}`;
    const mentionsTls = JSON.stringify(statement.Condition ?? {})
      .toLowerCase()
      .includes('aws:securetransport');
    const problems: string[] = [];
    if (statement.NotPrincipal !== undefined || !principalsOf(statement.Principal).includes('*'))
      problems.push('it is not for every principal (*)');
    const uncovered = ['s3:PutObject', 's3:GetObject'].filter(
      (action) => !actionCovered(statement, action),
    );
    if (uncovered.length) problems.push(`it does not cover ${uncovered.join(' and ')}`);
    if (!resourceCovered(statement, bucketArn))
      problems.push(`it does not cover the bucket ${bucketArn}`);
    if (!resourceCovered(statement, sample))
      problems.push(`it does not cover the objects ${bucketArn}/*`);
    if (!onlyInsecureTransportCondition(statement))
      problems.push('its condition is not exactly Bool aws:SecureTransport false');
    if (problems.length === 0) return { statement: label, near: [] };
    if (mentionsTls) near.push(`${label}: ${problems.join('; ')}`);
  }
  return { statement: undefined, near };
}

/** What about a trust policy goes beyond "Atlas's account may assume the role, with the external id". */
export function trustFindings(
  trust: PolicyDocument | undefined,
  atlasAccountArn: string,
  externalId: string,
): string[] {
  const allows = statementsOf(trust).filter((statement) => statement.Effect === 'Allow');
  if (allows.length === 0)
    return ['the trust policy allows no one to assume the role, so Atlas cannot export'];
  const findings: string[] = [];
  for (const [index, statement] of allows.entries()) {
    const label = statement.Sid ? `statement ${statement.Sid}` : `Allow statement ${index + 1}`;
    if (statement.NotPrincipal !== undefined)
      findings.push(`${label} uses NotPrincipal, which trusts everyone not listed`);
    const others = principalsOf(statement.Principal).filter(
      (principal) => principal !== atlasAccountArn,
    );
    if (others.length)
      findings.push(
        `${label} also trusts ${others.join(', ')} (Atlas's account is ${atlasAccountArn})`,
      );
    const actions =
      statement.NotAction !== undefined
        ? [`all but ${asList(statement.NotAction).join(', ')}`]
        : asList(statement.Action);
    const extra = actions.filter((action) => action.toLowerCase() !== 'sts:assumerole');
    if (extra.length) findings.push(`${label} allows ${extra.join(', ')} besides sts:AssumeRole`);
    const ids = externalIdsOf(statement);
    if (ids.length === 0)
      findings.push(
        `${label} has no sts:ExternalId condition (StringEquals), so any role in the trusted account could use it`,
      );
    else if (ids.some((id) => id !== externalId))
      findings.push(`${label} accepts external id ${ids.join(', ')}; Atlas's is ${externalId}`);
  }
  return findings;
}

function externalIdsOf(statement: PolicyStatement): string[] {
  const equals = statement.Condition?.StringEquals ?? {};
  const key = Object.keys(equals).find((name) => name.toLowerCase() === 'sts:externalid');
  return key ? asList(equals[key]).map(String) : [];
}

/** One permission of the documented minimum: an action on one resource. */
export interface Permission {
  action: string;
  resource: string;
}

/** The documented minimum: the bucket's location, writing its objects, and with SSE-KMS the key's two actions. */
export function minimumPermissions(input: {
  bucket: string;
  partition: string;
  kmsKeyArn?: string;
}): Permission[] {
  const arn = `arn:${input.partition}:s3:::${input.bucket}`;
  const minimum: Permission[] = [
    { action: 's3:GetBucketLocation', resource: arn },
    { action: 's3:PutObject', resource: `${arn}/*` },
  ];
  if (input.kmsKeyArn) {
    minimum.push(
      { action: 'kms:GenerateDataKey', resource: input.kmsKeyArn },
      { action: 'kms:Decrypt', resource: input.kmsKeyArn },
    );
  }
  return minimum;
}

export interface NamedPolicy {
  /** e.g. `inline policy atlas-pl-export-s3` or `managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess`. */
  label: string;
  document: PolicyDocument | undefined;
}

/** Every Allow of an action or on a resource beyond the minimum, one finding each. */
export function permissionFindings(policies: NamedPolicy[], minimum: Permission[]): string[] {
  const findings: string[] = [];
  for (const policy of policies) {
    for (const [index, statement] of statementsOf(policy.document).entries()) {
      if (statement.Effect !== 'Allow') continue;
      const where = `${policy.label}${statement.Sid ? ` (${statement.Sid})` : ` (statement ${index + 1})`}`;
      findings.push(...statementFindings(statement, where, minimum));
    }
  }
  return findings;
}

function statementFindings(
  statement: PolicyStatement,
  where: string,
  minimum: Permission[],
): string[] {
  if (statement.NotAction !== undefined)
    return [`${where} allows every action except ${asList(statement.NotAction).join(', ')}`];
  if (statement.NotResource !== undefined)
    return [`${where} allows on every resource except ${asList(statement.NotResource).join(', ')}`];
  const findings: string[] = [];
  const resources = asList(statement.Resource);
  for (const action of asList(statement.Action)) {
    const allowed = minimum.filter(
      (permission) => permission.action.toLowerCase() === action.toLowerCase(),
    );
    if (allowed.length === 0) {
      findings.push(
        `${where} allows ${action}${hasWildcard(action) ? ' (a wildcard)' : ''}, which is not in the minimum`,
      );
      continue;
    }
    const wider = resources.filter(
      (resource) => !allowed.some((permission) => permission.resource === resource),
    );
    for (const resource of wider) {
      findings.push(
        `${where} allows ${action} on ${resource === '*' ? 'every resource (*)' : resource}, wider than ${allowed.map((p) => p.resource).join(', ')}`,
      );
    }
  }
  return findings;
}

/** The minimum permissions no Allow statement grants (Atlas would then fail to export). */
export function missingPermissions(policies: NamedPolicy[], minimum: Permission[]): Permission[] {
  const allows = policies
    .flatMap((policy) => statementsOf(policy.document))
    .filter((statement) => statement.Effect === 'Allow');
  return minimum.filter(
    (permission) =>
      !allows.some(
        (statement) =>
          actionCovered(statement, permission.action) &&
          resourceCovered(statement, permission.resource),
      ),
  );
}

/** Condition keys that limit a grant to a network path: requests must come through it. */
const NETWORK_KEYS = new Set(['aws:sourcevpce', 'aws:sourcevpc']);
/**
 * Condition keys that name who is granted (the principal's account, organization, ARN or id; for
 * service requests, the account or resource they act for). A grant to everyone limited by one of
 * these is a grant to those principals, judged by where they are (foreignGrants), not public.
 */
const ACCOUNT_KEYS = new Set(['aws:principalaccount', 'aws:sourceaccount', 'aws:sourceowner']);
const ARN_KEYS = new Set(['aws:principalarn', 'aws:sourcearn']);
const ORGANIZATION_KEYS = new Set(['aws:principalorgid', 'aws:principalorgpaths']);
const PRINCIPAL_KEYS = new Set([...ACCOUNT_KEYS, ...ARN_KEYS, ...ORGANIZATION_KEYS, 'aws:userid']);
const EQUALITY_OPERATORS = new Set([
  'stringequals',
  'stringequalsignorecase',
  'stringlike',
  'arnequals',
  'arnlike',
]);

/**
 * One condition that pins a key to fixed values (no wildcard, except in the part of an ARN after a
 * fixed account; not ...IfExists, not negated).
 */
interface Pin {
  key: string;
  values: string[];
}

/** A value that pins `key`: no wildcard, or an ARN whose account is fixed (`arn:aws:iam::111122223333:role/*`). */
const fixedValue = (key: string, value: string): boolean =>
  !hasWildcard(value) || (ARN_KEYS.has(key) && accountOfPrincipal(value) !== undefined);

/** The conditions of a statement that pin one of `keys` to fixed values. */
function pinsOf(statement: PolicyStatement, keys: ReadonlySet<string>): Pin[] {
  return Object.entries(statement.Condition ?? {}).flatMap(([operator, pairs]) => {
    if (!EQUALITY_OPERATORS.has(operator.toLowerCase())) return [];
    return Object.entries(pairs).flatMap(([key, raw]) => {
      const values = asList(raw).map(String);
      const lower = key.toLowerCase();
      if (!keys.has(lower) || values.length === 0) return [];
      if (!values.every((value) => fixedValue(lower, value))) return [];
      return [{ key, values }];
    });
  });
}

/**
 * True when a condition limits the statement to a VPC endpoint or VPC, or to named principals (an
 * account, organization, ARN or user id). An IP address condition never does: addresses say nothing
 * of the path a request takes, and any range can be wide (0.0.0.0/1 and 128.0.0.0/1 are all of IPv4).
 */
function restrictedByCondition(statement: PolicyStatement): boolean {
  return pinsOf(statement, new Set([...NETWORK_KEYS, ...PRINCIPAL_KEYS])).length > 0;
}

/** Whether the statement is for everyone: Principal `*` (or {"AWS": "*"}) or a NotPrincipal. */
const forEveryone = (statement: PolicyStatement): boolean =>
  statement.NotPrincipal !== undefined || principalsOf(statement.Principal).includes('*');

export interface PublicGrant {
  /** The statement's Sid, or `#n` (its position, from 1). */
  statement: string;
  /** What it allows, in words: `s3:GetObject, s3:ListBucket` or `every action except ...`. */
  actions: string;
}

/** What a statement allows, in words: `s3:GetObject, s3:ListBucket` or `every action except ...`. */
function actionsIn(statement: PolicyStatement): string {
  return statement.NotAction !== undefined
    ? `every action except ${asList(statement.NotAction).join(', ')}`
    : asList(statement.Action).join(', ');
}

/**
 * Allow statements that grant to everyone (Principal `*` or `{"AWS": "*"}`, or a NotPrincipal) with no
 * condition restricting them to a VPC endpoint, an account or an organization.
 */
export function publicGrants(policy: PolicyDocument | undefined): PublicGrant[] {
  return statementsOf(policy).flatMap((statement, index) => {
    if (statement.Effect !== 'Allow') return [];
    if (!forEveryone(statement) || restrictedByCondition(statement)) return [];
    return [{ statement: statement.Sid ?? `#${index + 1}`, actions: actionsIn(statement) }];
  });
}

/** One finding per public grant: `statement <Sid or #n> allows everyone <actions>`. */
export function publicGrantFindings(policy: PolicyDocument | undefined): string[] {
  return publicGrants(policy).map(
    (grant) => `statement ${grant.statement} allows everyone ${grant.actions}`,
  );
}

/** The account an IAM principal belongs to (`arn:aws:iam::123456789012:role/x` → 123456789012), if it names one. */
function accountOfPrincipal(principal: string): string | undefined {
  const parts = principal.split(':');
  return parts[0] === 'arn' && /^\d{12}$/.test(parts[4] ?? '') ? parts[4] : undefined;
}

export interface ForeignGrant {
  /** The statement's Sid, or `#n` (its position, from 1). */
  statement: string;
  /** The principals it names outside the owner's account. */
  principals: string[];
  /** What it allows, in words. */
  actions: string;
}

/**
 * Whom a grant to everyone reaches outside the owner's account, by the conditions that name who is
 * granted (pins are ANDed; the values of one pin are alternatives). Empty when they keep it within
 * the owner's account, or when no such condition limits it (then it is public, or network-limited).
 */
function outsideByCondition(statement: PolicyStatement, ownerAccount: string): string[] {
  const pins = pinsOf(statement, PRINCIPAL_KEYS);
  if (pins.length === 0) return [];
  // The accounts each pin allows; undefined when the pin cannot be tied to accounts.
  const accountsOf = (pin: Pin): Array<string | undefined> | undefined => {
    const key = pin.key.toLowerCase();
    if (ACCOUNT_KEYS.has(key)) return pin.values;
    if (ARN_KEYS.has(key)) return pin.values.map(accountOfPrincipal);
    if (key === 'aws:userid')
      return pin.values.map((value) => (/^\d{12}$/.test(value) ? value : undefined));
    return undefined;
  };
  const sets = pins.map((pin) => ({ pin, accounts: accountsOf(pin) }));
  const tied = sets.filter(({ accounts }) => accounts?.every((a) => a !== undefined));
  if (tied.length > 0) {
    // Only accounts every tied pin allows can be granted.
    const [first, ...rest] = tied.map(({ accounts }) => new Set(accounts as string[]));
    const granted = [...first!].filter((account) => rest.every((set) => set.has(account)));
    const foreign = granted.filter((account) => account !== ownerAccount);
    const via = tied.map(({ pin }) => pin.key).join(' and ');
    return foreign.map(
      (account) => `any principal of account ${account} (Principal * limited by ${via})`,
    );
  }
  // An organization, an id or an ARN whose account cannot be told: it may reach other accounts.
  return sets.map(
    ({ pin }) =>
      `any principal with ${pin.key} ${pin.values.join(' or ')} (Principal * limited by ${pin.key}; ${ORGANIZATION_KEYS.has(pin.key.toLowerCase()) ? 'an organization spans other accounts' : 'its account cannot be told'})`,
  );
}

/**
 * Allow statements naming a principal outside the bucket owner's account: an IAM principal of another
 * account (`arn:aws:iam::999999999999:root`, a bare account id, another account's role), a principal
 * whose account cannot be told (a canonical user id, a federated identity), or everyone (`*`,
 * NotPrincipal) limited by a condition naming principals of another account or an organization
 * (aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalArn, aws:userid, aws:SourceAccount...).
 * Grants to everyone without such a condition are publicGrants' (or limited to a VPC endpoint); AWS
 * service principals act for the owner and are not listed. Statements whose Sid is in `except` are
 * left out (their principal is judged on its own).
 */
export function foreignGrants(
  policy: PolicyDocument | undefined,
  ownerAccount: string,
  except: readonly string[] = [],
): ForeignGrant[] {
  return statementsOf(policy).flatMap((statement, index) => {
    if (statement.Effect !== 'Allow' || except.includes(statement.Sid ?? '')) return [];
    const named = principalsOf(statement.Principal).filter((principal) => {
      if (principal === '*' || principal.startsWith('Service:')) return false;
      return accountOfPrincipal(principal.replace(/^Federated:/, '')) !== ownerAccount;
    });
    const outside = [
      ...named,
      ...(forEveryone(statement) ? outsideByCondition(statement, ownerAccount) : []),
    ];
    if (outside.length === 0) return [];
    return [
      {
        statement: statement.Sid ?? `#${index + 1}`,
        principals: outside,
        actions: actionsIn(statement),
      },
    ];
  });
}

/** One finding per foreign grant: `statement <Sid or #n> grants <actions> to <principals>, outside account <owner>`. */
export function foreignGrantFindings(
  policy: PolicyDocument | undefined,
  ownerAccount: string,
  except: readonly string[] = [],
): string[] {
  return foreignGrants(policy, ownerAccount, except).map(
    (grant) =>
      `statement ${grant.statement} grants ${grant.actions} to ${grant.principals.join(', ')}, outside the bucket owner's account ${ownerAccount}`,
  );
}

/** Each of the given Allow statements (by Sid) that names any principal but exactly `roleArn`. */
export function roleStatementFindings(
  policy: PolicyDocument | undefined,
  sids: readonly string[],
  roleArn: string,
): string[] {
  return statementsOf(policy)
    .filter((statement) => statement.Effect === 'Allow' && sids.includes(statement.Sid ?? ''))
    .flatMap((statement) => {
      const principals =
        statement.NotPrincipal !== undefined
          ? ['everyone but those listed (NotPrincipal)']
          : principalsOf(statement.Principal);
      return principals.length === 1 && principals[0] === roleArn
        ? []
        : [
            `statement ${statement.Sid} names ${principals.join(', ') || 'no principal'}, not the setup's role ${roleArn}`,
          ];
    });
}
