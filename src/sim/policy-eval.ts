/**
 * A small IAM policy evaluator for the simulator. moto stores policy documents but does not evaluate
 * trust policies, external ids or most condition operators, so the simulator decides here what AWS
 * would decide: whether a principal may assume a role, and whether an identity or bucket policy
 * allows an action on a resource.
 *
 * Rules implemented (the subset this project's policies use):
 * - Effect Allow/Deny; an explicit Deny wins over any Allow; nothing matching means an implicit deny.
 * - Action/NotAction (case-insensitive wildcards), Resource/NotResource (case-sensitive wildcards).
 * - Principal/NotPrincipal with "*" and AWS principals; an account (bare id or `:root` ARN) stands
 *   for every principal of that account.
 * - Condition operators StringEquals, StringNotEquals, StringEqualsIgnoreCase,
 *   StringNotEqualsIgnoreCase, StringLike, StringNotLike, Bool, ArnEquals, ArnLike, ArnNotEquals,
 *   ArnNotLike, each with an optional `IfExists` suffix and `ForAnyValue:` / `ForAllValues:` set
 *   qualifiers for multi-valued keys. An operator this module does not know makes an Allow
 *   statement not apply and a Deny statement apply (the conservative reading).
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
  /** The calling principal's ARN (needed when statements name principals). */
  principal?: string;
  context?: Record<string, ContextValue>;
}

export type Decision = 'allow' | 'explicitDeny' | 'implicitDeny';

export interface Evaluation {
  decision: Decision;
  allowed: boolean;
  /** Statements that allowed (decision allow) or denied (decision explicitDeny) the request. */
  matched: Statement[];
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

/**
 * Whether one `AWS` principal entry of a policy names the caller. `*` names everyone; an account
 * (bare 12-digit id or its `:root` ARN) names every principal of that account; any other ARN names
 * exactly that principal.
 */
export function principalEntryMatches(entry: string, caller: string): boolean {
  if (entry === '*') return true;
  const callerAccount = /^\d{12}$/.test(caller) ? caller : arnAccount(caller);
  if (/^\d{12}$/.test(entry)) return entry === callerAccount;
  const rootMatch = /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(entry);
  if (rootMatch) return rootMatch[1] === callerAccount;
  return entry === caller;
}

function principalBlockMatches(block: PrincipalBlock, caller: string | undefined): boolean {
  if (block.any) return true;
  const aws = block.byType.AWS ?? [];
  if (aws.includes('*')) return true;
  if (caller === undefined) return false;
  return aws.some((entry) => principalEntryMatches(entry, caller));
}

function principalApplies(statement: Statement, caller: string | undefined): boolean {
  if (statement.principal) return principalBlockMatches(statement.principal, caller);
  if (statement.notPrincipal) return !principalBlockMatches(statement.notPrincipal, caller);
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
}

function parseOperator(operator: string): ParsedOperator | undefined {
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
  const anyExpected = (value: string) => expected.some((e) => op.test(e, value));
  if (actual === undefined || actual.length === 0) {
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

/** Outcome of a condition block: holds, fails, or uses an operator this module does not know. */
type ConditionOutcome = 'holds' | 'fails' | 'unknown';

function conditionOutcome(
  condition: ConditionBlock | undefined,
  context: Record<string, ContextValue>,
): ConditionOutcome {
  if (!condition) return 'holds';
  let unknown = false;
  for (const [operator, pairs] of Object.entries(condition)) {
    const op = parseOperator(operator);
    if (!op) {
      unknown = true;
      continue;
    }
    for (const [key, expected] of Object.entries(pairs)) {
      if (!keyHolds(op, expected, lookup(context, key))) return 'fails';
    }
  }
  return unknown ? 'unknown' : 'holds';
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Whether a statement applies to a request (conditions included unless ignored). */
export function statementApplies(
  statement: Statement,
  request: AuthzRequest,
  options: EvaluateOptions = {},
): boolean {
  if (!principalApplies(statement, request.principal)) return false;
  if (!actionApplies(statement, request.action)) return false;
  if (!resourceApplies(statement, request.resource)) return false;
  if (options.ignoreConditions) return true;
  const outcome = conditionOutcome(statement.condition, request.context ?? {});
  if (outcome === 'unknown') return statement.effect === 'Deny';
  return outcome === 'holds';
}

/** Evaluates one request against a set of policies together (explicit Deny wins, else any Allow). */
export function evaluate(
  policies: PolicyDocument | PolicyDocument[],
  request: AuthzRequest,
  options: EvaluateOptions = {},
): Evaluation {
  const statements = (Array.isArray(policies) ? policies : [policies]).flatMap((p) => p.statements);
  const applying = statements.filter((s) => statementApplies(s, request, options));
  const denies = applying.filter((s) => s.effect === 'Deny');
  if (denies.length > 0) return { decision: 'explicitDeny', allowed: false, matched: denies };
  const allows = applying.filter((s) => s.effect === 'Allow');
  if (allows.length > 0) return { decision: 'allow', allowed: true, matched: allows };
  return { decision: 'implicitDeny', allowed: false, matched: [] };
}

/** Trust-policy question: may `principal` call sts:AssumeRole, presenting `externalId` (if any)? */
export function canAssumeRole(
  trustPolicy: PolicyDocument,
  input: { principal: string; externalId?: string; context?: Record<string, ContextValue> },
  options: EvaluateOptions = {},
): Evaluation {
  const context: Record<string, ContextValue> = {
    ...input.context,
    'sts:ExternalId': input.externalId,
  };
  // A trust-policy statement without Principal or NotPrincipal is invalid in IAM and grants nothing.
  const named = {
    ...trustPolicy,
    statements: trustPolicy.statements.filter((s) => s.principal || s.notPrincipal),
  };
  return evaluate(
    named,
    { action: 'sts:AssumeRole', principal: input.principal, context },
    options,
  );
}

/** Identity-policy question: do these policies allow `action` on `resource`? */
export function isActionAllowed(
  policies: PolicyDocument | PolicyDocument[],
  action: string,
  resource: string,
  context: Record<string, ContextValue> = {},
): Evaluation {
  return evaluate(policies, { action, resource, context });
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
