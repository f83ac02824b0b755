import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import {
  atlasAwsRegions,
  closestRegion,
  locationConstraintFor,
  parseRegion,
  partitionOf,
  privateEndpointRegions,
  regionFromLocationConstraint,
  toAtlasRegion,
  toAwsRegion,
} from '../src/regions.js';

describe('region names', () => {
  it('holds the 38 AWS regions of the spec and the 26 private endpoint regions, without GLOBAL', () => {
    expect(atlasAwsRegions).toHaveLength(38);
    expect(privateEndpointRegions).toHaveLength(26);
    expect(atlasAwsRegions as readonly string[]).not.toContain('GLOBAL');
    for (const region of privateEndpointRegions) expect(atlasAwsRegions).toContain(region);
  });

  it('converts both spellings both ways', () => {
    expect(toAwsRegion('US_EAST_1')).toBe('us-east-1');
    expect(toAwsRegion('us-east-1')).toBe('us-east-1');
    expect(toAwsRegion(' Eu-West-1 ')).toBe('eu-west-1');
    expect(toAtlasRegion('ap-southeast-2')).toBe('AP_SOUTHEAST_2');
    expect(toAtlasRegion('US_GOV_WEST_1')).toBe('US_GOV_WEST_1');
    expect(parseRegion('cn-northwest-1')).toEqual({
      ok: true,
      aws: 'cn-northwest-1',
      atlas: 'CN_NORTHWEST_1',
    });
  });

  it('names the rule, lists known regions and suggests the closest for a typo', () => {
    const result = parseRegion('us-est-1');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problem).toContain('region "us-est-1"');
    expect(result.problem).toContain('us-east-1 or US_EAST_1');
    expect(result.problem).toContain('known: us-gov-west-1,');
    expect(result.problem).toContain('Did you mean us-east-1?');
    expect(closestRegion('EU_WEST_9')).toBe('EU_WEST_1');
    expect(closestRegion('MARS_NORTH_1')).toBeUndefined();
  });

  it('refuses GLOBAL as not being an AWS region', () => {
    const result = parseRegion('GLOBAL');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain('GLOBAL is not an AWS region');
  });

  it('restricts to the private endpoint regions when asked, saying the region is not supported there', () => {
    const result = parseRegion('eu-central-2', {
      allowed: privateEndpointRegions,
      label: 'bucket region',
    });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.problem).toMatch(/^bucket region "eu-central-2" \(not supported here\)/);
    expect(() => toAwsRegion('eu-central-2', { allowed: privateEndpointRegions })).toThrow(
      UsageError,
    );
    expect(toAwsRegion('eu-central-1', { allowed: privateEndpointRegions })).toBe('eu-central-1');
  });

  it('throws a UsageError for an unknown region', () => {
    expect(() => toAtlasRegion('nowhere')).toThrow(/us-east-1 or US_EAST_1/);
  });

  it('knows the S3 special cases and partitions', () => {
    expect(locationConstraintFor('us-east-1')).toBeUndefined();
    expect(locationConstraintFor('eu-west-1')).toBe('eu-west-1');
    expect(regionFromLocationConstraint(undefined)).toBe('us-east-1');
    expect(regionFromLocationConstraint('')).toBe('us-east-1');
    expect(regionFromLocationConstraint('EU')).toBe('eu-west-1');
    expect(regionFromLocationConstraint('ap-south-1')).toBe('ap-south-1');
    expect(partitionOf('cn-north-1')).toBe('aws-cn');
    expect(partitionOf('us-gov-east-1')).toBe('aws-us-gov');
    expect(partitionOf('us-east-1')).toBe('aws');
  });
});
