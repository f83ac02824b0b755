/**
 * The official OpenAPI subset as a contract for the contract tests: where to find it, the
 * relaxations NOTES.md section 13 allows (and nothing else), the operations it declares, and
 * validators for responses and requests (a request field the spec does not declare is an error).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

export type Json = Record<string, any>;

const SPEC_PATH = join('shared', 'atlas-admin-api', 'openapi-subset.json');
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The spec file: ATLAS_ADMIN_API_SPEC when set, else `shared/atlas-admin-api/openapi-subset.json`
 * in the repository root or the nearest ancestor folder that has one. `why` says what was looked for.
 */
export function findSpec(
  env: NodeJS.ProcessEnv = process.env,
  root: string = REPO_ROOT,
): { file?: string; why: string } {
  const override = env.ATLAS_ADMIN_API_SPEC;
  if (override) {
    const file = resolve(override);
    return existsSync(file)
      ? { file, why: `ATLAS_ADMIN_API_SPEC=${override}` }
      : { why: `ATLAS_ADMIN_API_SPEC=${override} names no file` };
  }
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const file = join(dir, SPEC_PATH);
    if (existsSync(file)) return { file, why: file };
    if (dirname(dir) === dir) break;
  }
  return { why: `no ${SPEC_PATH} in ${resolve(root)} or any folder above it` };
}

/** Applies exactly the relaxations of NOTES.md section 13. */
export function relax(spec: Json): Json {
  const s = structuredClone(spec);
  const walk = (node: Json | undefined): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(walk);
    if (node.oneOf && !node.discriminator) {
      // 13.1: oneOfs without a discriminator have overlapping branches (hardware specs, instance
      // sizes, region names; 11 places); Atlas's values match several, so check them as anyOf.
      node.anyOf = node.oneOf;
      delete node.oneOf;
      // 13.2: region names and instance sizes are declared `type: object` with string branches; Atlas sends strings.
      if (node.type === 'object' && node.anyOf.every((b: Json) => b.type === 'string'))
        delete node.type;
    }
    Object.values(node).forEach(walk);
  };
  walk(s.components);
  walk(s.paths);
  // 13.3: the prefix pattern is a literal template ({ORG-NAME}...), not a regex of real values.
  delete s.components.schemas.DiskBackupExportJob.properties.prefix.pattern;
  // 13.4: adaptiveCapacity is nullable but its enum has no null.
  const adaptive = s.components.schemas.ClusterDescription20240805.properties.adaptiveCapacity;
  if (adaptive.enum) adaptive.enum = [...adaptive.enum, null];
  // 13.5: ApiError.parameters items are declared objects; Atlas sends strings and numbers.
  s.components.schemas.ApiError.properties.parameters.items = {};
  // 13.6 (ApiKey.publicKey is exactly 8 characters) needs no relaxation: the seed's keys have 8.
  return s;
}

/**
 * Ajv has no OpenAPI discriminator over allOf-based, recursive subtypes. Each discriminated schema B
 * becomes: B's own constraints (B__base), the discriminator property required and one of the mapped
 * values, and an if/then dispatch on that value to its mapped subtype; the subtypes' allOf reference
 * B__base, which breaks the recursion. This translates the same constraint; it relaxes nothing.
 */
export function translateDiscriminators(s: Json): void {
  const schemas = s.components.schemas as Json;
  for (const [name, schema] of Object.entries(schemas)) {
    const disc = schema.discriminator;
    if (!disc?.mapping) continue;
    const base = { ...schema };
    delete base.discriminator;
    delete base.oneOf;
    schemas[`${name}__base`] = base;
    const ref = `#/components/schemas/${name}`;
    for (const target of Object.values(disc.mapping) as string[]) {
      const t = schemas[target.split('/').pop()!];
      if (t?.allOf)
        t.allOf = t.allOf.map((p: Json) => (p.$ref === ref ? { $ref: `${ref}__base` } : p));
    }
    const present = {
      required: [disc.propertyName],
      properties: { [disc.propertyName]: { enum: Object.keys(disc.mapping) } },
    };
    const branches = Object.entries(disc.mapping).map(([value, target]) => ({
      if: { properties: { [disc.propertyName]: { const: value } }, required: [disc.propertyName] },
      then: { $ref: target },
    }));
    schemas[name] = { allOf: [{ $ref: `${ref}__base` }, present, ...branches] };
  }
  const strip = (node: Json | undefined): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(strip);
    delete node.discriminator;
    Object.values(node).forEach(strip);
  };
  strip(s);
}

export function pointer(...segments: string[]): string {
  return segments
    .map((seg) => encodeURIComponent(seg.replace(/~/g, '~0').replace(/\//g, '~1')))
    .join('/');
}

const VERSIONED = /^application\/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+json$/;

/** The version date of a versioned media type, if it is one. */
export function versionOf(mediaType: string | undefined): string | undefined {
  return VERSIONED.exec((mediaType ?? '').split(';')[0]?.trim() ?? '')?.[1];
}

/** One operation the spec declares. */
export interface SpecOperation {
  operationId: string;
  method: string;
  /** The spec's path template, e.g. /api/atlas/v2/groups/{groupId}. */
  path: string;
  op: Json;
  /** `status version` for every 2xx answer the spec declares (one per media type). */
  answers: string[];
  /** Versions of the request body's media types. */
  bodyVersions: string[];
  regex: RegExp;
  literals: number;
}

export class Contract {
  readonly ajv: Ajv;
  /** The relaxed spec (section 13 only), before the discriminator translation. */
  readonly relaxed: Json;
  /** The relaxed spec with discriminators translated for Ajv. */
  readonly spec: Json;
  readonly operations: SpecOperation[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly raw: Json) {
    this.relaxed = relax(raw);
    this.spec = structuredClone(this.relaxed);
    translateDiscriminators(this.spec);
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    const addFormats = addFormatsModule as unknown as (a: Ajv) => void;
    addFormats(this.ajv);
    for (const f of ['int32', 'int64', 'double', 'float']) this.ajv.addFormat(f, true);
    this.ajv.addSchema(this.spec, 'spec');
    this.operations = Object.entries(raw.paths as Json).flatMap(([path, item]) =>
      ['get', 'post', 'patch', 'put', 'delete']
        .filter((method) => item[method]?.operationId)
        .map((method) => operation(path, method, item[method])),
    );
  }

  static load(file: string): Contract {
    return new Contract(JSON.parse(readFileSync(file, 'utf8')));
  }

  /** The spec's operation for a method and path (query left out), the most literal template first. */
  match(method: string, path: string): SpecOperation | undefined {
    const bare = path.split('?')[0] ?? path;
    return this.operations
      .filter((o) => o.method === method.toUpperCase() && o.regex.test(bare))
      .sort((a, b) => b.literals - a.literals)[0];
  }

  /** A validator for the schema at a JSON pointer into the translated spec. */
  validator(ref: string): ValidateFunction {
    let v = this.validators.get(ref);
    if (!v) {
      v = this.ajv.compile({ $ref: `spec#/${ref}` });
      this.validators.set(ref, v);
    }
    return v;
  }

  /** The pointer to an operation's answer schema for a status and media type (through a components/responses $ref). */
  responseSchema(o: SpecOperation, status: string, type: string): string {
    const declared = o.op.responses?.[status];
    const base = declared?.$ref
      ? String(declared.$ref).replace(/^#\//, '')
      : pointer('paths', o.path, o.method.toLowerCase(), 'responses', status);
    return `${base}/${pointer('content', type, 'schema')}`;
  }

  /** Follows a `$ref` inside the relaxed spec. */
  resolve(node: Json | undefined): Json | undefined {
    let current = node;
    for (let i = 0; current?.$ref && i < 20; i += 1) {
      const parts = String(current.$ref).replace(/^#\//, '').split('/');
      current = parts.reduce<Json | undefined>(
        (at, part) => at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')],
        this.relaxed,
      );
    }
    return current;
  }

  /** The query parameters an operation declares (its own and referenced ones). */
  queryParameters(o: SpecOperation): string[] {
    return ((o.op.parameters ?? []) as Json[])
      .map((p) => this.resolve(p))
      .filter((p): p is Json => p?.in === 'query')
      .map((p) => String(p.name));
  }

  /**
   * Problems with a request body: the operation must declare the media type, the body must validate
   * against its schema, and every field must be one the schema declares (`path` names where).
   */
  requestProblems(o: SpecOperation, contentType: string | undefined, body: unknown): string[] {
    const type = (contentType ?? '').split(';')[0]?.trim() ?? '';
    const content = o.op.requestBody?.content?.[type];
    if (!content)
      return [`Content-Type ${type || '(none)'} is not a request media type of ${o.operationId}`];
    const v = this.validator(
      pointer('paths', o.path, o.method.toLowerCase(), 'requestBody', 'content', type, 'schema'),
    );
    const problems: string[] = [];
    if (!v(body)) problems.push(this.ajv.errorsText(v.errors).slice(0, 600));
    problems.push(
      ...this.undeclared(content.schema, body, 'body').map((f) => `${f} is not in the spec`),
    );
    return problems;
  }

  /** The fields of `value` that `schema` does not declare, by path. */
  undeclared(schema: Json | undefined, value: unknown, path: string): string[] {
    if (Array.isArray(value)) {
      const items = this.collectItems(schema);
      return value.flatMap((item, i) =>
        items.flatMap((s) => this.undeclared(s, item, `${path}[${i}]`)),
      );
    }
    if (value === null || typeof value !== 'object') return [];
    const found = { props: new Map<string, Json[]>(), open: false, typed: false };
    this.collect(schema, value as Json, found, new Set());
    // A schema that names no properties at all is free-form; additionalProperties makes a map.
    if (found.open || !found.typed) return [];
    return Object.entries(value as Json).flatMap(([key, child]) => {
      const schemas = found.props.get(key);
      if (!schemas) return [`${path}.${key}`];
      // A field declared in several places (allOf parts) is fine if any declaration covers its content.
      const nested = schemas.map((s) => this.undeclared(s, child, `${path}.${key}`));
      return nested.reduce((best, next) => (next.length < best.length ? next : best));
    });
  }

  /** Properties a schema declares for an object value: allOf parts, the discriminator's branch, other branches. */
  private collect(
    schema: Json | undefined,
    value: Json,
    found: { props: Map<string, Json[]>; open: boolean; typed: boolean },
    seen: Set<Json>,
  ): void {
    const s = this.resolve(schema);
    if (!s || seen.has(s)) return;
    seen.add(s);
    if (s.properties) found.typed = true;
    for (const [key, sub] of Object.entries((s.properties ?? {}) as Json))
      found.props.set(key, [...(found.props.get(key) ?? []), sub]);
    if (s.additionalProperties === true || typeof s.additionalProperties === 'object')
      found.open = true;
    for (const part of (s.allOf ?? []) as Json[]) this.collect(part, value, found, seen);
    const mapping = s.discriminator?.mapping as Record<string, string> | undefined;
    if (mapping) {
      const target = mapping[String(value[s.discriminator.propertyName])];
      if (target) this.collect({ $ref: target }, value, found, seen);
      return;
    }
    for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? [])] as Json[])
      this.collect(branch, value, found, seen);
  }

  private collectItems(schema: Json | undefined): Json[] {
    const s = this.resolve(schema);
    if (!s) return [];
    return [
      ...(s.items ? [s.items] : []),
      ...((s.allOf ?? []) as Json[]).flatMap((part) => this.collectItems(part)),
    ];
  }
}

function operation(path: string, method: string, op: Json): SpecOperation {
  const segments = path.split('/').filter(Boolean);
  const pattern = segments.map((seg) => (/^\{\w+\}$/.test(seg) ? '[^/]+' : seg)).join('/');
  const answers = Object.entries((op.responses ?? {}) as Json)
    .filter(([status]) => /^2\d\d$/.test(status))
    .flatMap(([status, response]) =>
      Object.keys((response as Json).content ?? {}).map((type) => `${status} ${versionOf(type)}`),
    );
  return {
    operationId: op.operationId,
    method: method.toUpperCase(),
    path,
    op,
    answers,
    bodyVersions: Object.keys(op.requestBody?.content ?? {})
      .map(versionOf)
      .filter((v): v is string => v !== undefined),
    regex: new RegExp(`^/${pattern}/?$`),
    literals: segments.filter((seg) => !seg.startsWith('{')).length,
  };
}
