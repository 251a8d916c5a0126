/**
 * The child-process runner on real children (`node -e`, `sh -c`): the answer round trip, causes of
 * death by name, the process group killed whole at the timeout or on abort, and answers refused
 * when too large or not JSON.
 */
import { describe, expect, it } from 'vitest';
import {
  ChildOutputError,
  ChildProcessDiedError,
} from '../../../../workers/runtime/isolation/child-process.js';
import { runCommand } from '../../../../workers/runtime/isolation/run-command.js';
import { pidsFromLines, stillAlive } from './support.js';

const node = (code: string) => ({ command: process.execPath, args: ['-e', code] });

describe('runCommand', () => {
  it('hands the input over on stdin and returns the JSON the child prints', async () => {
    const out = await runCommand(
      node(
        `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.error('working on',j.id);process.stdout.write(JSON.stringify({got:j.payload*2}))})`,
      ),
      { id: 'j1', payload: 21 },
    );
    expect(out.answer).toEqual({ got: 42 });
    expect(out.exit).toEqual({ code: 0, signal: null });
    expect(out.lastLines).toEqual(['working on j1']);
  });

  it('resolves a non-zero exit with its code and last stderr lines, for the caller to map', async () => {
    const out = await runCommand(node(`console.error('bad row 7');process.exit(3)`), {});
    expect(out.exit.code).toBe(3);
    expect(out.answer).toBeUndefined();
    expect(out.lastLines).toEqual(['bad row 7']);
  });

  it('reports a child killed by SIGKILL with the signal name and its last lines', async () => {
    const err = await runCommand(
      node(`console.error('step 1');process.kill(process.pid,'SIGKILL')`),
      {},
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ChildProcessDiedError);
    expect(err.message).toMatch(/killed by SIGKILL/);
    expect(err.message).toMatch(/step 1/);
  });

  it('reports process.abort() as SIGABRT', async () => {
    const err = await runCommand(node('process.abort()'), {}).catch((e) => e);
    expect(err).toBeInstanceOf(ChildProcessDiedError);
    expect(err.message).toMatch(/killed by SIGABRT/);
    expect(err.outOfMemory).toBe(false);
  });

  it('kills a hanging child and its grandchild as a group at the timeout', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const err = await runCommand(
      { command: 'sh', args: ['-c', 'sleep 300 & echo "grandchild $!" >&2; echo "child $$" >&2; sleep 300'] },
      {},
      { timeoutMs: 500, killGraceMs: 500, onLogLine: (l) => lines.push(l) },
    ).catch((e) => e);
    expect(err.message).toMatch(/ran past its 500 ms timeout/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const pids = pidsFromLines(lines);
    expect(pids).toHaveLength(2);
    expect(await stillAlive(pids)).toEqual([]);
  });

  it('kills the group when its signal aborts, rejecting with the reason', async () => {
    const ac = new AbortController();
    const lines: string[] = [];
    const run = runCommand(
      { command: 'sh', args: ['-c', 'sleep 300 & echo "grandchild $!" >&2; sleep 300'] },
      {},
      { signal: ac.signal, killGraceMs: 200, onLogLine: (l) => lines.push(l) },
    ).catch((e) => e);
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
    ac.abort(new Error('worker is shutting down'));
    expect((await run).message).toBe('worker is shutting down');
    expect(await stillAlive(pidsFromLines(lines))).toEqual([]);
  });

  it('refuses an answer over the output limit, saying how large it was', async () => {
    const err = await runCommand(
      node(`process.stdout.write('x'.repeat(300000))`),
      {},
      { maxOutputBytes: 100_000 },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ChildOutputError);
    expect(err.message).toMatch(/printed 300000 bytes on stdout, over the 100000-byte limit/);
  });

  it('refuses an answer that is not JSON, quoting its start', async () => {
    const err = await runCommand({ command: 'sh', args: ['-c', 'echo "hello world"'] }, {}).catch((e) => e);
    expect(err).toBeInstanceOf(ChildOutputError);
    expect(err.message).toMatch(/stdout is not JSON .*began: "hello world"/);
  });

  it('reports a program that does not exist as a failed start', async () => {
    const out = await runCommand({ command: '/nonexistent/program', args: [] }, {});
    expect(out.exit.code).toBe(127);
    expect(out.lastLines.join('\n')).toMatch(/cannot start \/nonexistent\/program: .*ENOENT/);
  });
});
