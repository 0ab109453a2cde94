/**
 * The gate for helper programs (ss, nsenter): a fixed path, resolved one name at a time,
 * every directory and the file root's alone. Built in a scratch directory under /run
 * (root's, mode 0755: /tmp itself is writable by everyone, so nothing under it passes).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trustedProgram } from '../../src/host/programs';
import { elevation, nodeHost } from '../../src/host/node-host';
import { skipUnless } from '../helpers';

const skip = skipUnless(process.getuid?.() === 0 ? false : 'needs root to own the files it checks');

describe('trustedProgram: only root\'s files run', { skip }, () => {
  let dir = '';
  let planted = '';
  const refusal = (paths: string[]) => {
    try {
      trustedProgram(paths);
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };
  before(() => {
    dir = mkdtempSync('/run/cep-root-helper-');
    chmodSync(dir, 0o755);
    const program = (name: string, mode = 0o755) => writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n', { mode });
    program('good');
    program('theirs');
    chownSync(join(dir, 'theirs'), 65534, 65534);
    program('group-writable');
    chmodSync(join(dir, 'group-writable'), 0o775);
    program('world-writable');
    chmodSync(join(dir, 'world-writable'), 0o757);
    program('not-executable', 0o644);
    mkdirSync(join(dir, 'open'));
    chmodSync(join(dir, 'open'), 0o777);
    program('open/inside');
    mkdirSync(join(dir, 'lib'));
    program('lib/real');
    symlinkSync('lib/real', join(dir, 'relative-link'));
    symlinkSync(join(dir, 'lib'), join(dir, 'bin'));
    symlinkSync(join(dir, 'open', 'inside'), join(dir, 'link-into-open'));
    planted = mkdtempSync('/tmp/cep-root-planted-');
    writeFileSync(join(planted, 'ss'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    symlinkSync(join(planted, 'ss'), join(dir, 'link-into-tmp'));
    symlinkSync('loop-b', join(dir, 'loop-a'));
    symlinkSync('loop-a', join(dir, 'loop-b'));
  });
  after(() => {
    if (planted) rmSync(planted, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a root-owned program, resolved through links (Debian\'s /bin is a link)', () => {
    assert.equal(trustedProgram([join(dir, 'good')]), join(dir, 'good'));
    assert.equal(trustedProgram([join(dir, 'relative-link')]), join(dir, 'lib', 'real'));
    assert.equal(trustedProgram([join(dir, 'bin', 'real')]), join(dir, 'lib', 'real'));
    assert.equal(trustedProgram(['/bin/sh']), realpathSync('/bin/sh'));
  });

  it('takes the first path that exists, and refuses rather than skip an unsafe one', () => {
    assert.equal(trustedProgram([join(dir, 'missing'), join(dir, 'good')]), join(dir, 'good'));
    assert.match(refusal([join(dir, 'theirs'), join(dir, 'good')]), /theirs: not run: .*theirs is owned by uid 65534, not root$/);
    assert.match(refusal([join(dir, 'missing'), join(dir, 'nothing')]), /: not found in .*missing, .*nothing$/);
    assert.match(refusal([join(dir, 'missing')]), /missing: not found$/);
  });

  it('names the path and what is wrong', () => {
    assert.match(refusal([join(dir, 'group-writable')]), /group-writable: not run: .* is writable by its group \(mode 0775\)$/);
    assert.match(refusal([join(dir, 'world-writable')]), /world-writable: not run: .* is writable by others \(mode 0757\)$/);
    assert.match(refusal([join(dir, 'not-executable')]), /not-executable: not run: .* is not executable$/);
    assert.match(refusal([join(dir, 'open', 'inside')]), /inside: not run: .*\/open is writable by its group and others \(mode 0777\)$/);
    assert.match(refusal([join(dir, 'link-into-open')]), /link-into-open: not run: .*\/open is writable by its group and others/);
    assert.match(refusal([join(dir, 'link-into-tmp')]), /link-into-tmp: not run: \/tmp is writable by its group and others \(mode 1777\)$/);
    assert.match(refusal([join(dir, 'loop-a')]), /loop-a: not run: too many symbolic links$/);
    assert.match(refusal([dir]), /not run: .* is not a regular file$/);
    assert.match(refusal(['relative/ss']), /relative\/ss: not run: not an absolute path$/);
  });

  it('is the gate of nodeHost.spawn too: nothing else runs', async () => {
    await assert.rejects(nodeHost.spawn?.(join(dir, 'theirs'), [], new AbortController().signal) ?? Promise.resolve(), /theirs is owned by uid 65534, not root/);
    const child = await nodeHost.spawn?.(join(dir, 'good'), [], new AbortController().signal);
    assert.equal((await child?.drain(() => {}))?.code, 0);
  });
});

describe('elevation: more privileges than the caller', () => {
  const plain = { uid: 1000, euid: 1000, gid: 1000, egid: 1000 };
  it('none for a plain run, root included', () => {
    assert.equal(elevation(plain, {}), null);
    assert.equal(elevation({ uid: 0, euid: 0, gid: 0, egid: 0 }, { PATH: '/usr/bin' }), null);
  });
  it('sudo (its variables; a forged one only makes the check stricter), doas, pkexec', () => {
    assert.match(elevation({ uid: 0, euid: 0, gid: 0, egid: 0 }, { SUDO_UID: '1000' }) ?? '', /SUDO_UID is set: started through sudo/);
    assert.match(elevation(plain, { SUDO_USER: 'x' }) ?? '', /sudo/);
    assert.match(elevation(plain, { DOAS_USER: 'x' }) ?? '', /doas/);
    assert.match(elevation(plain, { PKEXEC_UID: '1000' }) ?? '', /pkexec/);
  });
  it('set-user-ID and set-group-ID', () => {
    assert.equal(elevation({ ...plain, euid: 0 }, {}), 'real uid 1000, effective uid 0');
    assert.equal(elevation({ ...plain, egid: 0 }, {}), 'real gid 1000, effective gid 0');
  });
});
