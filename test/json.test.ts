import { describe, expect, it } from 'vitest';
import { parseJsonFile } from '../src/json.js';

describe('parseJsonFile', () => {
  it('accepts a UTF-8 byte order mark before the document', () => {
    expect(parseJsonFile('\uFEFF{"a": 1}')).toEqual({ a: 1 });
  });

  it('names the line and column of a syntax error', () => {
    expect(() => parseJsonFile('{\n  "a": 1,\n  "b": ]\n}')).toThrow(/line 3, column 8\)$/);
  });
});
