import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helpText, parseCommandLine, usageText, UsageError } from '../../src/cli/options';

describe('--source', () => {
  it('is auto unless told', () => assert.equal(parseCommandLine([]).source, 'auto'));

  for (const source of ['auto', 'ss', 'proc'] as const) {
    it(`takes ${source}`, () => assert.equal(parseCommandLine(['--source', source]).source, source));
  }

  it('--proc DIR implies proc (a copy of /proc has no ss)', () => {
    assert.equal(parseCommandLine(['--proc', '/tmp/copy']).source, 'proc');
    assert.equal(parseCommandLine(['--proc', '/tmp/copy', '--source', 'auto']).source, 'proc');
    assert.equal(parseCommandLine(['--source=proc', '--proc=/tmp/copy']).procRoot, '/tmp/copy');
  });

  it('refuses --proc with --source ss, and unknown sources', () => {
    assert.throws(() => parseCommandLine(['--proc', '/tmp/copy', '--source', 'ss']), (err: unknown) => err instanceof UsageError && /choose one/.test(err.message));
    assert.throws(() => parseCommandLine(['--source', 'netlink']), (err: unknown) => err instanceof UsageError && /--source wants auto, ss, proc, not "netlink"/.test(err.message));
    assert.throws(() => parseCommandLine(['--source', 'ss', '--source', 'proc']), UsageError);
  });

  it('is in the usage and the help', () => {
    assert.match(usageText(), /\[--source SOURCE\]/);
    assert.match(helpText('0'), /--source SOURCE +read sockets with ss .* auto, ss or proc; .* \(default: auto\)/);
  });
});
