/** Each command's --help lists the flags it takes, and only those. */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../scripts/cli.js';

async function help(name: string): Promise<string> {
  const command = COMMANDS[name];
  if (!command) throw new Error(`no command ${name}`);
  let text = '';
  const out = {
    write: (s: string) => {
      text += s;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const { main } = await command.load();
  const code = await main({ argv: ['--help'], env: {}, err: out, out });
  expect(code).toBe(0);
  return text;
}

/** Every `--flag` a help text names. */
const flagsIn = (text: string) => new Set(text.match(/--[a-z][a-z-]*/g));

describe('flotilla COMMAND --help', () => {
  it.each(Object.keys(COMMANDS))('%s prints its usage and the common flags', async (name) => {
    const text = await help(name);
    expect(text).toContain(`usage: flotilla ${name}`);
    expect(flagsIn(text)).toContain('--debug');
  });

  it('simulate lists no connection flags, and refuses them', async () => {
    const flags = flagsIn(await help('simulate'));
    for (const f of [
      '--endpoint',
      '--region',
      '--profile',
      '--queue-url',
      '--dlq-url',
      '--bucket',
      '--stack',
    ])
      expect(flags).not.toContain(f);
    expect(flags).toContain('--trace');
    const { main } = await COMMANDS.simulate!.load();
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    await expect(main({ argv: ['--endpoint', 'http://x'], env: {}, err: sink, out: sink })).rejects.toThrow(
      /Unknown option '--endpoint'/,
    );
  });

  it('export lists where to connect and what to read', async () => {
    const flags = flagsIn(await help('export'));
    for (const f of [
      '--endpoint',
      '--region',
      '--profile',
      '--stack',
      '--queue-url',
      '--dlq-url',
      '--bucket',
      '--to',
    ])
      expect(flags).toContain(f);
  });

  it('restore and verify list an endpoint to write to but no source queue or stack', async () => {
    const restore = flagsIn(await help('restore'));
    expect(restore).toContain('--endpoint');
    expect(restore).toContain('--bucket');
    for (const f of ['--stack', '--queue-url', '--dlq-url']) expect(restore).not.toContain(f);
    const verify = flagsIn(await help('verify'));
    for (const f of ['--endpoint', '--stack', '--queue-url']) expect(verify).not.toContain(f);
    expect(verify).toContain('--against');
  });

  it('lists a connection flag a command also defines itself only once', async () => {
    for (const name of Object.keys(COMMANDS)) {
      const [own = '', where = ''] = (await help(name)).split('Where to connect:');
      const lead = (text: string) => text.split('\n').map((l) => /^\s+(--[a-z-]+)/.exec(l)?.[1]);
      const ownFlags = new Set(lead(own));
      for (const f of lead(where)) if (f) expect(ownFlags, `${name} ${f}`).not.toContain(f);
    }
  });
});
