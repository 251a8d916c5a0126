/**
 * The export's file-writer thread: what lands on disk, the SHA-256 it reports (the one in
 * SHA256SUMS), the file's time, and what a failure leaves behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileWriter } from '../../../scripts/sync/file-writer.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const MTIME = Date.parse('2024-05-06T07:08:09.000Z');

describe('FileWriter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-writer-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a whole file, stamps its time and reports its SHA-256', async () => {
    const w = new FileWriter();
    try {
      const data = randomBytes(10_240);
      const expected = sha(data);
      const copy = Buffer.from(data);
      const path = join(dir, 'small.bin');
      expect(await w.write(path, data, MTIME)).toBe(expected);
      expect(await readFile(path)).toEqual(copy);
      expect((await stat(path)).mtimeMs).toBe(MTIME);
      // Bigger than a slab, beside small ones in the same batch.
      const big = randomBytes(2_500_000);
      const [a, b, c] = await Promise.all([
        w.write(join(dir, 'a.bin'), data.subarray(0, 100), MTIME),
        w.write(join(dir, 'big.bin'), big, MTIME),
        w.write(join(dir, 'c.bin'), data.subarray(100, 300), MTIME),
      ]);
      expect([a, b, c]).toEqual([sha(data.subarray(0, 100)), sha(big), sha(data.subarray(100, 300))]);
      expect(sha(await readFile(join(dir, 'big.bin')))).toBe(sha(big));
      // The caller's buffer is copied, not moved: it stays intact and can be reused at once.
      const whole = randomBytes(4096);
      const view = whole.subarray(100, 200);
      expect(await w.write(join(dir, 'view.bin'), view, MTIME)).toBe(sha(whole.subarray(100, 200)));
      expect(whole.length).toBe(4096);
      expect(data.length).toBe(10_240);
    } finally {
      await w.close();
    }
  });

  it('hashes chunks that arrive out of order, held in memory or read back past the budget', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const pieces: [number, Buffer][] = [];
    for (let at = 0; at < data.length; at += 100_000) pieces.push([at, data.subarray(at, at + 100_000)]);
    // Every second range first, then the rest: the way parallel ranged GETs finish.
    const order = [...pieces.filter((_, i) => i % 2 === 1), ...pieces.filter((_, i) => i % 2 === 0)];
    for (const holdBytes of [64 * 1024 * 1024, 200_000]) {
      const w = new FileWriter({ holdBytes });
      try {
        const path = join(dir, `ooo-${holdBytes}.bin`);
        const f = w.open(path);
        for (const [pos, chunk] of order) {
          // The caller's buffer may be reused as soon as chunk() returns.
          const scratch = Buffer.from(chunk);
          await f.chunk(pos, scratch);
          scratch.fill(0);
        }
        expect(await f.finish(data.length, MTIME), `holdBytes ${holdBytes}`).toBe(sha(data));
        expect(sha(await readFile(path))).toBe(sha(data));
        expect((await stat(path)).mtimeMs).toBe(MTIME);
      } finally {
        await w.close();
      }
    }
  });

  it('makes the sender wait when too many bytes are unwritten, and finishes all of them', async () => {
    const w = new FileWriter({ maxUnwrittenBytes: 256 * 1024 });
    try {
      const data = randomBytes(4 * 1024 * 1024);
      const f = w.open(join(dir, 'paced.bin'));
      let waits = 0;
      for (let at = 0; at < data.length; at += 64 * 1024) {
        const wait = f.chunk(at, data.subarray(at, at + 64 * 1024));
        if (wait) {
          waits++;
          await wait;
        }
      }
      expect(waits).toBeGreaterThan(0);
      expect(await f.finish(data.length, MTIME)).toBe(sha(data));
    } finally {
      await w.close();
    }
  });

  it('makes a missing folder, and fails a file under a file with its errno code, leaving nothing', async () => {
    const w = new FileWriter();
    try {
      const deep = join(dir, 'made', 'on', 'demand', 'x.bin');
      const data = randomBytes(10);
      const expected = sha(data);
      expect(await w.write(deep, data, MTIME)).toBe(expected);
      expect(existsSync(deep)).toBe(true);

      await writeFile(join(dir, 'blocker'), 'a file, not a folder');
      const path = join(dir, 'blocker', 'x.bin');
      await expect(w.write(path, randomBytes(10), MTIME)).rejects.toMatchObject({ code: 'ENOTDIR' });
      const f = w.open(path);
      f.chunk(0, randomBytes(10));
      await expect(f.finish(10, MTIME)).rejects.toMatchObject({ code: 'ENOTDIR' });
      expect(existsSync(path)).toBe(false);
    } finally {
      await w.close();
    }
  });

  it('removes an aborted file, and refuses a finish short of the bytes written', async () => {
    const w = new FileWriter();
    try {
      const aborted = join(dir, 'aborted.bin');
      const f = w.open(aborted);
      f.chunk(0, randomBytes(1000));
      await f.abort();
      expect(existsSync(aborted)).toBe(false);

      const short = join(dir, 'short.bin');
      const g = w.open(short);
      g.chunk(0, randomBytes(1000));
      await expect(g.finish(2000, MTIME)).rejects.toThrow(/shorter/);
      expect(existsSync(short)).toBe(false);
    } finally {
      await w.close();
    }
  });
});
