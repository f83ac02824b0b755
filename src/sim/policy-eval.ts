/**
 * A small IAM policy evaluator for the simulator. moto stores policy documents but does not evaluate
 * trust policies, external ids or most condition operators, so the simulator decides here what AWS
 * would decide: whether a principal may assume a role, and whether an identity or bucket policy
 * allows an action on a resource.
 *
 * Rules implemented (the subset this project's policies use):
 * - Effect Allow/Deny; an explicit Deny wins over any Allow; nothing matching means an implicit deny.
 * - Action/NotAction (case-insensitive wildcards), Resource/NotResource (case-sensitive wildcards).
 * - Principal/NotPrincipal with "*" and AWS principals; an account (bare id or `:root` ARN of the
 *   caller's partition) stands for every principal of that account, and a role ARN in Principal for
 *   the role's sessions. NotPrincipal leaves out only the principals it names exactly: an
 *   assumed-role session stays in unless its session ARN is listed (naming its role is not enough).
 * - In trust policies an Allow statement needs Principal: Allow with NotPrincipal grants nothing.
 * - Condition operators StringEquals, StringNotEquals, StringEqualsIgnoreCase,
 *   StringNotEqualsIgnoreCase, StringLike, StringNotLike, Bool, ArnEquals, ArnLike, ArnNotEquals,
 *   ArnNotLike and Null, each (but Null) with an optional `IfExists` suffix and `ForAnyValue:` /
 *   `ForAllValues:` set qualifiers for multi-valued keys. An operator this module does not know, or
 *   a key outside the request's known keys (when the caller lists them), makes an Allow statement
 *   not apply and a Deny statement apply (the conservative reading); the evaluation says which.
 */
import { CliError, ExitCode } from '../errors.js';

export type Effect = 'Allow' | 'Deny';

/** Condition values per key, always as string lists. */
export type ConditionBlock = Record<string, Record<string, string[]>>;

export interface PrincipalBlock {
  /** True for `"Principal": "*"`. */
  any: boolean;
  /** Values per principal type (`AWS`, `Service`, `Federated`, ...). */
  byType: Record<string, string[]>;
}

export interface Statement {
  sid?: string;
  effect: Effect;
  action?: string[];
  notAction?: string[];
  resource?: string[];
  notResource?: string[];
  principal?: PrincipalBlock;
  notPrincipal?: PrincipalBlock;
  condition?: ConditionBlock;
}

export interface PolicyDocument {
  version?: string;
  statements: Statement[];
}

/** A request-context value: a single value, a multi-valued key, or absent. */
export type ContextValue = string | boolean | number | Array<string | boolean | number> | undefined;

export interface AuthzRequest {
  action: string;
  /** Omitted for trust policies, which have no Resource element. */
  resource?: string;
  /** The calling principal's ARN (needed when statements name principals); a session ARN for a role. */
  principal?: string;
  /** For an assumed-role session: the role's ARN, which a Principal (not a NotPrincipal) may name. */
  principalRole?: string;
  context?: Record<string, ContextValue>;
  /**
   * The condition keys the request context can hold (absent ones are known to be absent). When given,
   * a condition on any other key cannot be decided; when omitted, every key is taken as known.
   */
  knownKeys?: readonly string[];
}

/** Why a statement that matched principal, action and resource did or did not meet its conditions. */
export type ConditionIssue =
  | { kind: 'fails'; operator: string; key: string; actual: string[] | undefined }
  | { kind: 'unknownOperator'; operator: string }
  | { kind: 'unknownKey'; operator: string; key: string };

export type Decision = 'allow' | 'explicitDeny' | 'implicitDeny';

export interface Evaluation {
  decision: Decision;
  allowed: boolean;
  /** Statements that allowed (decision allow) or denied (decision explicitDeny) the request. */
  matched: Statement[];
  /** Allow statements that matched all but their conditions, with the condition that stopped each. */
  unmet: Array<{ statement: Statement; issue: ConditionIssue }>;
}

export interface EvaluateOptions {
  /** Treat every condition as satisfied (used to tell a failing condition from a non-matching statement). */
  ignoreConditions?: boolean;
}

export class PolicyParseError extends CliError {
  constructor(message: string) {
    super(message, {
      code: 'MALFORMED_POLICY_DOCUMENT',
      exitCode: ExitCode.cloud,
      hint: 'Fix the policy document: it must be JSON with a Statement element.',
    });
    this.name = 'PolicyParseError';
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing and normalisation

/** Parses a policy given as an object, a JSON string, or a URL-encoded JSON string (as IAM returns it). */
export function parsePolicy(input: string | object): PolicyDocument {
  const raw = typeof input === 'string' ? parseJsonText(input) : input;
  if (!isRecord(raw)) throw new PolicyParseError('The policy document is not a JSON object.');
  const statement = raw.Statement;
  if (statement === undefined)
    throw new PolicyParseError('The policy document has no Statement element.');
  const list = Array.isArray(statement) ? statement : [statement];
  return {
    version: typeof raw.Version === 'string' ? raw.Version : undefined,
    statements: list.map((item, index) => parseStatement(item, index)),
  };
}

function parseJsonText(text: string): unknown {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    // IAM returns documents URL-encoded (RFC 3986); fall through and decode.
  }
  try {
    return JSON.parse(decodeURIComponent(trimmed));
  } catch {
    throw new PolicyParseError('The policy document is neither JSON nor URL-encoded JSON.');
  }
}

function parseStatement(item: unknown, index: number): Statement {
  if (!isRecord(item)) throw new PolicyParseError(`Statement ${index} is not a JSON object.`);
  const effect = item.Effect;
  if (effect !== 'Allow' && effect !== 'Deny') {
    throw new PolicyParseError(
      `Statement ${index} has Effect ${JSON.stringify(effect)}; it must be Allow or Deny.`,
    );
  }
  if (item.Action !== undefined && item.NotAction !== undefined) {
    throw new PolicyParseError(`Statement ${index} has both Action and NotAction.`);
  }
  if (item.Resource !== undefined && item.NotResource !== undefined) {
    throw new PolicyParseError(`Statement ${index} has both Resource and NotResource.`);
  }
  return {
    sid: typeof item.Sid === 'string' ? item.Sid : undefined,
    effect,
    action: optionalStrings(item.Action, index, 'Action'),
    notAction: optionalStrings(item.NotAction, index, 'NotAction'),
    resource: optionalStrings(item.Resource, index, 'Resource'),
    notResource: optionalStrings(item.NotResource, index, 'NotResource'),
    principal: parsePrincipal(item.Principal, index),
    notPrincipal: parsePrincipal(item.NotPrincipal, index),
    condition: parseCondition(item.Condition, index),
  };
}

function optionalStrings(value: unknown, index: number, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  return toStrings(value, `Statement ${index} ${field}`);
}

/** Normalises a scalar or a list of scalars to a list of strings. */
function toStrings(value: unknown, where: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry) => {
    if (typeof entry === 'string') return entry;
    if (typeof entry === 'number' || typeof entry === 'boolean') return String(entry);
    throw new PolicyParseError(`${where} holds ${JSON.stringify(entry)}, which is not a string.`);
  });
}

function parsePrincipal(value: unknown, index: number): PrincipalBlock | undefined {
  if (value === undefined) return undefined;
  if (value === '*') return { any: true, byType: {} };
  if (!isRecord(value))
    throw new PolicyParseError(
      `Statement ${index} has a Principal that is neither "*" nor an object.`,
    );
  const byType: Record<string, string[]> = {};
  for (const [type, entries] of Object.entries(value))
    byType[type] = toStrings(entries, `Statement ${index} Principal`);
  return { any: false, byType };
}

function parseCondition(value: unknown, index: number): ConditionBlock | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value))
    throw new PolicyParseError(`Statement ${index} has a Condition that is not an object.`);
  const block: ConditionBlock = {};
  for (const [operator, pairs] of Object.entries(value)) {
    if (!isRecord(pairs))
      throw new PolicyParseError(`Statement ${index} condition ${operator} is not an object.`);
    block[operator] = {};
    for (const [key, expected] of Object.entries(pairs)) {
      block[operator][key] = toStrings(expected, `Statement ${index} condition ${operator} ${key}`);
    }
  }
  return block;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Matching

/** IAM wildcard match: `*` any run of characters (including none), `?` exactly one. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  let pi = 0;
  let vi = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (vi < v.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === v[vi])) {
      pi += 1;
      vi += 1;
    } else if (pi < p.length && p[pi] === '*') {
      starAt = pi;
      resumeAt = vi;
      pi += 1;
    } else if (starAt >= 0) {
      pi = starAt + 1;
      resumeAt += 1;
      vi = resumeAt;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi += 1;
  return pi === p.length;
}

function actionMatches(patterns: string[], action: string): boolean {
  return patterns.some((pattern) => wildcardMatch(pattern, action, true));
}

function resourceMatches(patterns: string[], resource: string): boolean {
  return patterns.some((pattern) => wildcardMatch(pattern, resource));
}

/** The account id of an ARN (`arn:aws:iam::123456789012:role/x` -> `123456789012`), or undefined. */
export function arnAccount(arn: string): string | undefined {
  const parts = arn.split(':');
  return parts.length >= 6 && parts[0] === 'arn' ? parts[4] || undefined : undefined;
}

/** The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), or undefined. */
function arnPartition(arn: string): string | undefined {
  const parts = arn.split(':');
  return parts.length >= 6 && parts[0] === 'arn' ? parts[1] : undefined;
}

/**
 * Whether one `AWS` principal entry of a policy names the caller. `*` names everyone; an account
 * (bare 12-digit id, or its `:root` ARN in the caller's partition) names every principal of that
 * account; any other ARN names exactly that principal.
 */
export function principalEntryMatches(entry: string, caller: string): boolean {
  if (entry === '*') return true;
  const callerAccount = /^\d{12}$/.test(caller) ? caller : arnAccount(caller);
  if (/^\d{12}$/.test(entry)) return entry === callerAccount;
  const rootMatch = /^arn:([\w-]+):iam::(\d{12}):root$/.exec(entry);
  if (rootMatch) {
    const partition = /^\d{12}$/.test(caller) ? 'aws' : arnPartition(caller);
    return rootMatch[1] === partition && rootMatch[2] === callerAccount;
  }
  return entry === caller;
}

function awsEntries(block: PrincipalBlock): string[] {
  return block.byType.AWS ?? [];
}

/** `"Principal": "*"` or `{"AWS": "*"}`. */
function namesEveryone(block: PrincipalBlock): boolean {
  return block.any || awsEntries(block).includes('*');
}

function principalBlockMatches(block: PrincipalBlock, request: AuthzRequest): boolean {
  const caller = request.principal;
  if (namesEveryone(block)) return true;
  return (
    caller !== undefined &&
    awsEntries(block).some(
      (entry) => principalEntryMatches(entry, caller) || entry === request.principalRole,
    )
  );
}

/**
 * Whether a NotPrincipal block leaves the caller out. An assumed-role session is left out only when
 * its own session ARN is listed: its role's ARN or its account alone do not (as in AWS).
 */
function notPrincipalExcludes(block: PrincipalBlock, request: AuthzRequest): boolean {
  const caller = request.principal;
  if (namesEveryone(block)) return true;
  if (caller === undefined) return false;
  const aws = awsEntries(block);
  if (request.principalRole !== undefined) return aws.includes(caller);
  return aws.some((entry) => principalEntryMatches(entry, caller));
}

function principalApplies(statement: Statement, request: AuthzRequest): boolean {
  if (statement.principal) return principalBlockMatches(statement.principal, request);
  if (statement.notPrincipal) return !notPrincipalExcludes(statement.notPrincipal, request);
  return true;
}

function actionApplies(statement: Statement, action: string): boolean {
  if (statement.action) return actionMatches(statement.action, action);
  if (statement.notAction) return !actionMatches(statement.notAction, action);
  return false;
}

function resourceApplies(statement: Statement, resource: string | undefined): boolean {
  if (resource === undefined) return true;
  if (statement.resource) return resourceMatches(statement.resource, resource);
  if (statement.notResource) return !resourceMatches(statement.notResource, resource);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Conditions

type ValueTest = (expected: string, actual: string) => boolean;

const BASE_OPERATORS: Record<string, { test: ValueTest; negated: boolean }> = {
  StringEquals: { test: (e, a) => e === a, negated: false },
  StringNotEquals: { test: (e, a) => e === a, negated: true },
  StringEqualsIgnoreCase: { test: (e, a) => e.toLowerCase() === a.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { test: (e, a) => e.toLowerCase() === a.toLowerCase(), negated: true },
  StringLike: { test: (e, a) => wildcardMatch(e, a), negated: false },
  StringNotLike: { test: (e, a) => wildcardMatch(e, a), negated: true },
  Bool: { test: (e, a) => e.toLowerCase() === a.toLowerCase(), negated: false },
  ArnEquals: { test: arnMatches, negated: false },
  ArnLike: { test: arnMatches, negated: false },
  ArnNotEquals: { test: arnMatches, negated: true },
  ArnNotLike: { test: arnMatches, negated: true },
};

/** ARN comparison: component by component (the last component keeps its colons), wildcards allowed. */
function arnMatches(expected: string, actual: string): boolean {
  const e = splitArn(expected);
  const a = splitArn(actual);
  if (!e || !a) return false;
  return e.every((part, i) => wildcardMatch(part, a[i] ?? ''));
}

function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

interface ParsedOperator {
  test: ValueTest;
  negated: boolean;
  ifExists: boolean;
  set: 'ForAnyValue' | 'ForAllValues' | undefined;
  /** The Null operator: the expected value says whether the key is absent ("true") or present. */
  presence?: boolean;
}

function parseOperator(operator: string): ParsedOperator | undefined {
  if (operator === 'Null')
    return { test: () => false, negated: false, ifExists: false, set: undefined, presence: true };
  let name = operator;
  let set: ParsedOperator['set'];
  const qualifier = /^(ForAnyValue|ForAllValues):(.+)$/.exec(name);
  if (qualifier) {
    set = qualifier[1] as ParsedOperator['set'];
    name = qualifier[2] ?? '';
  }
  const ifExists = name.endsWith('IfExists');
  if (ifExists) name = name.slice(0, -'IfExists'.length);
  const base = BASE_OPERATORS[name];
  return base ? { ...base, ifExists, set } : undefined;
}

/** Request-context lookup; condition keys are case-insensitive. */
function lookup(context: Record<string, ContextValue>, key: string): string[] | undefined {
  const wanted = key.toLowerCase();
  for (const [name, value] of Object.entries(context)) {
    if (name.toLowerCase() !== wanted || value === undefined) continue;
    return (Array.isArray(value) ? value : [value]).map(String);
  }
  return undefined;
}

function keyHolds(op: ParsedOperator, expected: string[], actual: string[] | undefined): boolean {
  const absent = actual === undefined || actual.length === 0;
  if (op.presence) return expected.some((e) => (e.toLowerCase() === 'true') === absent);
  const anyExpected = (value: string) => expected.some((e) => op.test(e, value));
  if (absent) {
    if (op.ifExists) return true;
    // Absent keys: ForAllValues is vacuously true, negated operators hold, the rest fail.
    if (op.set === 'ForAllValues') return true;
    if (op.set === 'ForAnyValue') return false;
    return op.negated;
  }
  if (op.set === 'ForAllValues')
    return actual.every((v) => (op.negated ? !anyExpected(v) : anyExpected(v)));
  if (op.set === 'ForAnyValue')
    return actual.some((v) => (op.negated ? !anyExpected(v) : anyExpected(v)));
  // Single-valued operator: positive operators need some value to match, negated ones need none to.
  return op.negated ? !actual.some(anyExpected) : actual.some(anyExpected);
}

/**
 * Outcome of a condition block: holds, fails (a known key's test fails: conditions are ANDed, so
 * this decides), or cannot be decided (an unknown operator or key), with the condition concerned.
 */
function conditionOutcome(
  condition: ConditionBlock | undefined,
  request: AuthzRequest,
): { outcome: 'holds' | 'fails' | 'unknown'; issue?: ConditionIssue } {
  if (!condition) return { outcome: 'holds' };
  const context = request.context ?? {};
  const known = request.knownKeys?.map((k) => k.toLowerCase());
  let undecided: ConditionIssue | undefined;
  for (const [operator, pairs] of Object.entries(condition)) {
    const op = parseOperator(operator);
    if (!op) {
      undecided ??= { kind: 'unknownOperator', operator };
      continue;
    }
    for (const [key, expected] of Object.entries(pairs)) {
      if (known && !known.includes(key.toLowerCase())) {
        undecided ??= { kind: 'unknownKey', operator, key };
        continue;
      }
      const actual = lookup(context, key);
      if (!keyHolds(op, expected, actual))
        return { outcome: 'fails', issue: { kind: 'fails', operator, key, actual } };
    }
  }
  return undecided ? { outcome: 'unknown', issue: undecided } : { outcome: 'holds' };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Whether a statement applies to a request, and if only its conditions stopped it, which one. */
function statementOutcome(
  statement: Statement,
  request: AuthzRequest,
  options: EvaluateOptions,
): { applies: boolean; issue?: ConditionIssue } {
  if (!principalApplies(statement, request)) return { applies: false };
  if (!actionApplies(statement, request.action)) return { applies: false };
  if (!resourceApplies(statement, request.resource)) return { applies: false };
  if (options.ignoreConditions) return { applies: true };
  const { outcome, issue } = conditionOutcome(statement.condition, request);
  if (outcome === 'unknown') return { applies: statement.effect === 'Deny', issue };
  return { applies: outcome === 'holds', issue };
}

/** Whether a statement applies to a request (conditions included unless ignored). */
export function statementApplies(
  statement: Statement,
  request: AuthzRequest,
  options: EvaluateOptions = {},
): boolean {
  return statementOutcome(statement, request, options).applies;
}

/** Evaluates one request against a set of policies together (explicit Deny wins, else any Allow). */
export function evaluate(
  policies: PolicyDocument | PolicyDocument[],
  request: AuthzRequest,
  options: EvaluateOptions = {},
): Evaluation {
  const statements = (Array.isArray(policies) ? policies : [policies]).flatMap((p) => p.statements);
  const outcomes = statements.map((statement) => ({
    statement,
    ...statementOutcome(statement, request, options),
  }));
  const applying = outcomes.filter((o) => o.applies).map((o) => o.statement);
  const unmet = outcomes
    .filter((o) => !o.applies && o.issue && o.statement.effect === 'Allow')
    .map((o) => ({ statement: o.statement, issue: o.issue as ConditionIssue }));
  const denies = applying.filter((s) => s.effect === 'Deny');
  if (denies.length > 0)
    return { decision: 'explicitDeny', allowed: false, matched: denies, unmet };
  const allows = applying.filter((s) => s.effect === 'Allow');
  if (allows.length > 0) return { decision: 'allow', allowed: true, matched: allows, unmet };
  return { decision: 'implicitDeny', allowed: false, matched: [], unmet };
}

/** The condition keys Atlas's AssumeRole request carries, as the simulator models it. */
export const ASSUME_ROLE_KEYS = [
  'sts:ExternalId',
  'aws:PrincipalAccount',
  'aws:PrincipalArn',
  'aws:SecureTransport',
] as const;

/**
 * Trust-policy question: may `principal` call sts:AssumeRole, presenting `externalId` (if any)? The
 * request context is Atlas's: the external id, the caller's account and ARN, and TLS; a condition on
 * any other key cannot be decided. Allow statements with NotPrincipal (which IAM refuses in trust
 * policies) and statements without Principal grant nothing.
 */
export function canAssumeRole(
  trustPolicy: PolicyDocument,
  input: { principal: string; externalId?: string },
  options: EvaluateOptions = {},
): Evaluation {
  const context: Record<string, ContextValue> = {
    'sts:ExternalId': input.externalId,
    'aws:PrincipalAccount': arnAccount(input.principal),
    'aws:PrincipalArn': input.principal,
    'aws:SecureTransport': true,
  };
  const named = {
    ...trustPolicy,
    statements: trustPolicy.statements.filter((s) =>
      s.effect === 'Allow' ? s.principal !== undefined : s.principal || s.notPrincipal,
    ),
  };
  return evaluate(
    named,
    {
      action: 'sts:AssumeRole',
      principal: input.principal,
      context,
      knownKeys: ASSUME_ROLE_KEYS,
    },
    options,
  );
}

/** Identity-policy question: do these policies allow `action` on `resource`? */
export function isActionAllowed(
  policies: PolicyDocument | PolicyDocument[],
  action: string,
  resource: string,
  context: Record<string, ContextValue> = {},
  knownKeys?: readonly string[],
): Evaluation {
  return evaluate(policies, { action, resource, context, ...(knownKeys ? { knownKeys } : {}) });
}

/** The external ids a trust policy expects (StringEquals/StringLike on sts:ExternalId in Allow statements). */
export function expectedExternalIds(trustPolicy: PolicyDocument): string[] {
  const ids: string[] = [];
  for (const statement of trustPolicy.statements) {
    if (statement.effect !== 'Allow') continue;
    for (const [operator, pairs] of Object.entries(statement.condition ?? {})) {
      if (!/^String(Equals|Like)(IfExists)?$/.test(operator)) continue;
      for (const [key, values] of Object.entries(pairs)) {
        if (key.toLowerCase() === 'sts:externalid') ids.push(...values);
      }
    }
  }
  return ids;
}
