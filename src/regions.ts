/**
 * AWS region names as Atlas spells them (`US_EAST_1`) and as AWS spells them (`us-east-1`), and the
 * conversions between the two. The lists are the AWS region enums of the Atlas Administration API
 * (cluster `regionName` for AWS, and the object-storage private endpoint `regionName`), without
 * `GLOBAL`, which is an Atlas notion and not an AWS region.
 */
import { UsageError } from './errors.js';

/** Every AWS region Atlas can deploy a cluster in (the spec's "AWS Regions" enum, `GLOBAL` left out). */
export const atlasAwsRegions = [
  'US_GOV_WEST_1',
  'US_GOV_EAST_1',
  'US_EAST_1',
  'US_EAST_2',
  'US_WEST_1',
  'US_WEST_2',
  'CA_CENTRAL_1',
  'EU_NORTH_1',
  'EU_WEST_1',
  'EU_WEST_2',
  'EU_WEST_3',
  'EU_CENTRAL_1',
  'EU_CENTRAL_2',
  'AP_EAST_1',
  'AP_EAST_2',
  'AP_NORTHEAST_1',
  'AP_NORTHEAST_2',
  'AP_NORTHEAST_3',
  'AP_SOUTHEAST_1',
  'AP_SOUTHEAST_2',
  'AP_SOUTHEAST_3',
  'AP_SOUTHEAST_4',
  'AP_SOUTHEAST_5',
  'AP_SOUTHEAST_6',
  'AP_SOUTHEAST_7',
  'AP_SOUTH_1',
  'AP_SOUTH_2',
  'SA_EAST_1',
  'CN_NORTH_1',
  'CN_NORTHWEST_1',
  'ME_SOUTH_1',
  'ME_CENTRAL_1',
  'AF_SOUTH_1',
  'EU_SOUTH_1',
  'EU_SOUTH_2',
  'IL_CENTRAL_1',
  'CA_WEST_1',
  'MX_CENTRAL_1',
] as const;

/**
 * The regions the object-storage private endpoint accepts (`ObjectStoragePrivateEndpointRequest.
 * regionName`: 27 values in the spec, of which `GLOBAL` is left out because a bucket lives in one
 * AWS region).
 */
export const privateEndpointRegions = [
  'US_GOV_WEST_1',
  'US_GOV_EAST_1',
  'US_EAST_1',
  'US_EAST_2',
  'US_WEST_1',
  'US_WEST_2',
  'CA_CENTRAL_1',
  'EU_NORTH_1',
  'EU_WEST_1',
  'EU_WEST_2',
  'EU_WEST_3',
  'EU_CENTRAL_1',
  'AP_EAST_1',
  'AP_NORTHEAST_1',
  'AP_NORTHEAST_2',
  'AP_NORTHEAST_3',
  'AP_SOUTHEAST_1',
  'AP_SOUTHEAST_2',
  'AP_SOUTHEAST_3',
  'AP_SOUTH_1',
  'SA_EAST_1',
  'CN_NORTH_1',
  'CN_NORTHWEST_1',
  'ME_SOUTH_1',
  'AF_SOUTH_1',
  'EU_SOUTH_1',
] as const;

export type AtlasAwsRegion = (typeof atlasAwsRegions)[number];

export interface Region {
  /** AWS form, e.g. `us-east-1`. */
  aws: string;
  /** Atlas form, e.g. `US_EAST_1`. */
  atlas: string;
}

export type RegionParseResult = ({ ok: true } & Region) | { ok: false; problem: string };

export interface ParseRegionOptions {
  /** Atlas-form names that are accepted (default: every AWS region Atlas supports). */
  allowed?: readonly string[];
  /** Used in the problem message, e.g. "bucket region" (default "region"). */
  label?: string;
}

function atlasToAws(atlas: string): string {
  return atlas.toLowerCase().replace(/_/g, '-');
}

function awsToAtlas(aws: string): string {
  return aws.toUpperCase().replace(/-/g, '_');
}

/** Accepts either spelling, any case, with surrounding blanks; returns the Atlas form (unchecked). */
function normalise(input: string): string {
  return awsToAtlas(input.trim());
}

export function parseRegion(input: string, options: ParseRegionOptions = {}): RegionParseResult {
  const allowed = options.allowed ?? atlasAwsRegions;
  const label = options.label ?? 'region';
  const atlas = normalise(input);
  if (allowed.includes(atlas)) return { ok: true, aws: atlasToAws(atlas), atlas };
  return { ok: false, problem: regionProblem(input, atlas, allowed, label) };
}

function regionProblem(
  input: string,
  atlas: string,
  allowed: readonly string[],
  label: string,
): string {
  const rule = 'use an AWS region name such as us-east-1 or US_EAST_1';
  if (atlas === 'GLOBAL') return `${label} "${input}": GLOBAL is not an AWS region; ${rule}`;
  const known = allowed.map(atlasToAws).join(', ');
  const closest = closestRegion(atlas, allowed);
  const suggestion = closest ? ` Did you mean ${atlasToAws(closest)}?` : '';
  const where = atlasAwsRegions.includes(atlas as AtlasAwsRegion) ? ' (not supported here)' : '';
  return `${label} "${input}"${where}: ${rule}; known: ${known}.${suggestion}`;
}

/** The allowed region nearest to a mistyped one, when it is close enough to be a typo. */
export function closestRegion(
  atlas: string,
  allowed: readonly string[] = atlasAwsRegions,
): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of allowed) {
    const distance = editDistance(atlas, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= 3 ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function parseOrThrow(input: string, options: ParseRegionOptions): Region {
  const result = parseRegion(input, options);
  if (!result.ok) throw new UsageError(result.problem, { code: 'INVALID_REGION' });
  return { aws: result.aws, atlas: result.atlas };
}

/** 'US_EAST_1' or 'us-east-1' -> 'us-east-1'; throws a UsageError for an unknown region. */
export function toAwsRegion(input: string, options: ParseRegionOptions = {}): string {
  return parseOrThrow(input, options).aws;
}

/** 'us-east-1' or 'US_EAST_1' -> 'US_EAST_1'; throws a UsageError for an unknown region. */
export function toAtlasRegion(input: string, options: ParseRegionOptions = {}): string {
  return parseOrThrow(input, options).atlas;
}

/** The AWS partition a region belongs to, for ARNs: aws, aws-cn or aws-us-gov. */
export function partitionOf(awsRegion: string): 'aws' | 'aws-cn' | 'aws-us-gov' {
  if (awsRegion.startsWith('cn-')) return 'aws-cn';
  if (awsRegion.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/**
 * The CreateBucket LocationConstraint for a region. us-east-1 takes none: S3 rejects
 * `LocationConstraint: us-east-1` with InvalidLocationConstraint.
 */
export function locationConstraintFor(awsRegion: string): string | undefined {
  return awsRegion === 'us-east-1' ? undefined : awsRegion;
}

/**
 * The region a GetBucketLocation answer names: an empty constraint means us-east-1, and the
 * legacy value `EU` means eu-west-1.
 */
export function regionFromLocationConstraint(constraint: string | null | undefined): string {
  if (!constraint) return 'us-east-1';
  if (constraint === 'EU') return 'eu-west-1';
  return constraint;
}
