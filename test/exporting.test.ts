import { describe, expect, it } from 'vitest';
import { compareWithComplete, listedFiles } from '../src/exporting.js';

const prefix = 'exported_snapshots/Org/Proj/Cluster0/2026-01-01T0000/1700000000';

describe('checking an export against its .complete object', () => {
  it('checks every listed file when the object lists them', () => {
    const text = JSON.stringify({
      totalFiles: 2,
      files: ['db/a/rs0.0.json.gz', { filename: 'db/a/metadata.json' }],
    });
    expect(listedFiles(text, prefix)).toEqual([
      `${prefix}/db/a/rs0.0.json.gz`,
      `${prefix}/db/a/metadata.json`,
    ]);
    const check = compareWithComplete(text, prefix, [`${prefix}/db/a/rs0.0.json.gz`]);
    expect(check.missing).toEqual([`${prefix}/db/a/metadata.json`]);
  });

  it('with only totalFiles (as Atlas documents it), compares the count of objects under the prefix', () => {
    const text = JSON.stringify({ orgId: 'x', totalFiles: 3 });
    const whole = compareWithComplete(text, prefix, [`${prefix}/a`, `${prefix}/b`, `${prefix}/c`]);
    expect(whole).toEqual({ listed: [`${prefix}/a`, `${prefix}/b`, `${prefix}/c`], missing: [] });
    const short = compareWithComplete(text, prefix, [`${prefix}/a`]);
    expect(short.missing).toEqual([
      `2 of the 3 files .complete counts (totalFiles) under ${prefix}/`,
    ]);
  });

  it('refuses a .complete that is not JSON', () => {
    expect(() => listedFiles('not json', prefix)).toThrow(/not valid JSON/);
  });
});
