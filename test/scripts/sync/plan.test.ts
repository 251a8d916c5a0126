import { describe, expect, it } from 'vitest';
import { march, needsTransfer, sameByListing } from '../../../scripts/sync/plan.js';

const obj = (key: string, over: Partial<{ size: number; etag: string; lastModifiedMs: number }> = {}) => ({
  key,
  size: 10,
  etag: '"0123456789abcdef0123456789abcdef"',
  lastModifiedMs: 1000,
  ...over,
});

describe('march over two sorted listings', () => {
  it('pairs keys present on both sides and separates the rest', () => {
    const pairs = [...march([obj('a'), obj('b'), obj('d')], [obj('b'), obj('c'), obj('d'), obj('e')])];
    expect(pairs.map((p) => `${p.kind}:${p.key}`)).toEqual([
      'source-only:a',
      'matched:b',
      'dest-only:c',
      'matched:d',
      'dest-only:e',
    ]);
  });
});

describe('needsTransfer', () => {
  it('copies what the destination has never seen', () => {
    expect(needsTransfer(obj('a'), undefined)).toBe(true);
  });
  it('skips the same size, ETag and time', () => {
    expect(
      needsTransfer(obj('a'), { size: 10, etag: '0123456789abcdef0123456789abcdef', lastModifiedMs: 1000 }),
    ).toBe(false);
  });
  it('copies again when size, ETag or time differ', () => {
    const base = { size: 10, etag: '0123456789abcdef0123456789abcdef', lastModifiedMs: 1000 };
    expect(needsTransfer(obj('a', { size: 11 }), base)).toBe(true);
    expect(needsTransfer(obj('a', { etag: '"ffff"' }), base)).toBe(true);
    expect(needsTransfer(obj('a', { lastModifiedMs: 2000 }), base)).toBe(true);
    expect(needsTransfer(obj('a'), { size: 10 })).toBe(true);
  });
});

describe('sameByListing (mirror shortcut)', () => {
  it('trusts equal single-part ETags when the target is newer', () => {
    expect(sameByListing(obj('a'), obj('a', { lastModifiedMs: 2000 }))).toBe(true);
  });
  it('never reads a multipart ETag as an MD5, even when both sides show the same one', () => {
    const mp = '"0123456789abcdef0123456789abcdef-3"';
    expect(sameByListing(obj('a', { etag: mp }), obj('a', { etag: mp, lastModifiedMs: 2000 }))).toBe(false);
  });
  it('looks closer when the source changed after the target was written', () => {
    expect(sameByListing(obj('a', { lastModifiedMs: 3000 }), obj('a', { lastModifiedMs: 2000 }))).toBe(false);
  });
});
