import { describe, expect, it } from 'vitest';
import { compareKeys, escapedPath, isPlainKey, layoutKeys } from '../../../scripts/sync/keys.js';

describe('export layout of keys', () => {
  it('stores ordinary keys as plain paths under objects/<bucket>/', () => {
    const m = layoutKeys('bkt', ['a.txt', 'dir/sub/file.json', 'ünïcode/名前.txt']);
    expect(m.get('a.txt')).toBe('objects/bkt/a.txt');
    expect(m.get('dir/sub/file.json')).toBe('objects/bkt/dir/sub/file.json');
    expect(m.get('ünïcode/名前.txt')).toBe('objects/bkt/ünïcode/名前.txt');
  });

  it('decides a printable ASCII key as the rule does for any key (bytes, not characters)', () => {
    // 200 bytes is the most a segment may hold: 200 ASCII characters pass, 100 'é' (200 bytes)
    // pass, 101 'é' (202 bytes) do not, nor 201 ASCII characters.
    expect(isPlainKey(`${'x'.repeat(200)}/f`)).toBe(true);
    expect(isPlainKey(`${'x'.repeat(201)}/f`)).toBe(false);
    expect(isPlainKey(`${'é'.repeat(100)}/f`)).toBe(true);
    expect(isPlainKey(`${'é'.repeat(101)}/f`)).toBe(false);
    expect(isPlainKey(`a/${'b'.repeat(199)}/`.repeat(4).slice(0, -1))).toBe(true); // 807 bytes
    expect(isPlainKey(`a/${'b'.repeat(199)}/`.repeat(5).slice(0, -1))).toBe(false); // 1009 bytes
    for (const c of ['\u007f', '\t', '\\', '\u00a0', '\ud800'])
      expect(isPlainKey(`k${c}`), c).toBe(c === '\u00a0');
  });

  it('lays out 200,000 listed keys with every ASCII key plain, clashes escaped, in one pass', () => {
    const keys = Array.from(
      { length: 200_000 },
      (_, i) => `data/${String(i % 1000).padStart(3, '0')}/obj-${i}.bin`,
    );
    const m = layoutKeys('bkt', [...keys, 'DATA/000/OBJ-0.BIN', 'data/000']);
    expect(m.size).toBe(200_002);
    expect(m.get('data/999/obj-199999.bin')).toBe('objects/bkt/data/999/obj-199999.bin');
    // 'D' sorts before 'd': the upper-case key keeps the plain path, its folded twin is escaped.
    expect(m.get('DATA/000/OBJ-0.BIN')).toBe('objects/bkt/DATA/000/OBJ-0.BIN');
    expect(m.get('data/000/obj-0.bin')).toBe(escapedPath('bkt', 'data/000/obj-0.bin'));
    expect(m.get('data/000')).toBe(escapedPath('bkt', 'data/000')); // a folder of other keys
  });

  it.each([
    ['../escape'],
    ['a/../../etc/passwd'],
    ['/absolute'],
    ['a//b'],
    ['trailing/'],
    ['./dot'],
    ['nul\u0000byte'],
    ['new\nline'],
    ['back\\slash'],
    [`${'x'.repeat(201)}/f`],
    ['ok/'.repeat(300)],
  ])('escapes the hostile key %j to a hashed name', (key) => {
    expect(isPlainKey(key)).toBe(false);
    const path = layoutKeys('bkt', [key]).get(key);
    expect(path).toBe(escapedPath('bkt', key));
    expect(path).toMatch(/^escaped\/bkt\/[0-9a-f]{64}$/);
  });

  it('keeps the folder and escapes the file when a key is also a folder (d and d/f)', () => {
    const m = layoutKeys('bkt', ['d', 'd/f']);
    expect(m.get('d/f')).toBe('objects/bkt/d/f');
    expect(m.get('d')).toBe(escapedPath('bkt', 'd'));
  });

  it('gives keys that differ only by case or normalisation one plain path, the first in sort order', () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    const m = layoutKeys('bkt', ['Readme', 'README', 'readme', nfc, nfd]);
    expect(m.get('README')).toBe('objects/bkt/README');
    expect(m.get('Readme')).toBe(escapedPath('bkt', 'Readme'));
    expect(m.get('readme')).toBe(escapedPath('bkt', 'readme'));
    const plain = [nfc, nfd].filter((k) => m.get(k) === `objects/bkt/${k}`);
    expect(plain).toHaveLength(1);
  });

  it('escapes a file that clashes with a folder only by case (D and d/f)', () => {
    const m = layoutKeys('bkt', ['D', 'd/f']);
    expect(m.get('D')).toBe(escapedPath('bkt', 'D'));
  });

  it('does not depend on the order keys arrive in', () => {
    const keys = ['d', 'd/f', 'A', 'a', '../x', 'z/y'];
    expect([...layoutKeys('bkt', keys)].sort()).toEqual([...layoutKeys('bkt', [...keys].reverse())].sort());
  });

  it('refuses a bucket name that is not one', () => {
    expect(() => layoutKeys('../etc', ['k'])).toThrow(/not a valid bucket name/);
  });
});

describe('compareKeys', () => {
  it('sorts keys as S3 lists them, by their UTF-8 bytes, surrogate pairs included', () => {
    // Characters where UTF-16 and UTF-8 orders disagree: U+E000-U+FFFF against emoji (U+1F600).
    const alphabet = ['a', 'b', '/', '-', 'é', '名', '\ue000', '\uff5e', '\ufffd', '😀', '𝄞', '\u0000'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const keys = Array.from({ length: 400 }, () =>
      Array.from({ length: 1 + (next() % 5) }, () => alphabet[next() % alphabet.length]).join(''),
    );
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(compareKeys)).toEqual(byBytes);
    expect(compareKeys('\uffff', '😀')).toBe(-1);
    expect(compareKeys('ab', 'abc')).toBe(-1);
    expect(compareKeys('x', 'x')).toBe(0);
  });
});
