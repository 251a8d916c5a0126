/** Command bindings as users write them: `--exec TYPE=COMMAND`, and cdk.json `exec` / FLOTILLA_EXEC. */
import { describe, expect, it } from 'vitest';
import { parseExecBinding, parseExecConfig } from '../../core/command-bindings.js';

describe('command bindings', () => {
  it('parses TYPE=COMMAND and the JSON of a deployed fleet, and names what is wrong', () => {
    expect(parseExecBinding('thumbnail=python3 thumb.py --size=64')).toEqual({
      type: 'thumbnail',
      commandLine: 'python3 thumb.py --size=64',
    });
    expect(parseExecConfig('{"a":"./a","b":{"command":"./b","timeoutSeconds":5}}')).toEqual([
      { type: 'a', commandLine: './a' },
      { type: 'b', commandLine: './b', timeoutSeconds: 5 },
    ]);
    expect(() => parseExecBinding('python3 thumb.py')).toThrow(/is not TYPE=COMMAND/);
    expect(() => parseExecBinding('9lives=./x')).toThrow(/'9lives' is not a job type/);
    expect(() => parseExecConfig('{"a": 3}')).toThrow(/'a' must be a command line/);
    expect(() => parseExecConfig('[1]')).toThrow(/JSON object/);
  });
});
