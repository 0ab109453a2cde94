/**
 * The trace instance on the live kernel (root): armed, drained, verified and set back when
 * changed, taken in turns, removed. It uses an instance of its own name, removed at the end.
 */
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { after, test } from 'node:test';
import { countFailures } from '../../src/failures/failures';
import { nodeTraceDoor } from '../../src/host/tracefs';
import { drainFailureTrace, FILTER, removeFailureTrace, type NotCounted, type TraceDrain } from '../../src/sources/trace/instance';
import { ensureTracefs, runFailures, traceUnavailable, TRACEFS } from '../groundtruth/trace';
import { skipUnless } from '../helpers';

const skip = skipUnless(traceUnavailable());
const NAME = 'check_ephemeral_ports_test';
const DIR = `${TRACEFS}/instances/${NAME}`;

after(() => {
  if (!skip && existsSync(DIR)) removeFailureTrace(nodeTraceDoor(), NAME);
});

function drained(r: TraceDrain | NotCounted): TraceDrain {
  assert.equal(r.counted, true, r.counted ? '' : r.reason);
  return r as TraceDrain;
}

const mine = (f: ReturnType<typeof countFailures>, remotePort: number) => f.tuples.filter((t) => t.remotePort === remotePort && t.local.startsWith('127.27.1.'));

test('armed on the first run, then each drain counts what failed since the one before', { skip }, async () => {
  ensureTracefs();
  removeFailureTrace(nodeTraceDoor(), NAME);
  const first = drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME));
  assert.equal(first.made, true);
  assert.equal(countFailures(first).since, null);
  assert.equal(readFileSync(`${DIR}/events/sock/inet_sock_set_state/filter`, 'latin1').trim(), FILTER);
  assert.equal(readFileSync(`${DIR}/set_event`, 'latin1').trim(), 'sock:inet_sock_set_state');
  const [outcome] = await runFailures([{ op: 'fail', local: '127.27.1.1', remote: '127.27.1.2', port: 27101, n: 3 }]);
  assert.equal(outcome.failed, 3);
  const second = countFailures(drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME)));
  assert.deepEqual(mine(second, 27101), [{ local: '127.27.1.1', remote: '127.27.1.2', remotePort: 27101, count: 3 }]);
  assert.equal(second.since, first.until);
  assert.equal(second.made, false);
  const third = countFailures(drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME)));
  assert.deepEqual(mine(third, 27101), []);
});

test('a changed instance is set back, and says what had changed', { skip }, async () => {
  ensureTracefs();
  drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME));
  writeFileSync(`${DIR}/events/sock/inet_sock_set_state/filter`, '0');
  writeFileSync(`${DIR}/events/sock/sock_rcvqueue_full/enable`, '1');
  writeFileSync(`${DIR}/tracing_on`, '0');
  const r = drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME));
  assert.deepEqual(r.rearmed, ['the filter', 'the events enabled', 'tracing_on']);
  assert.equal(readFileSync(`${DIR}/events/sock/inet_sock_set_state/filter`, 'latin1').trim(), FILTER);
  assert.equal(readFileSync(`${DIR}/set_event`, 'latin1').trim(), 'sock:inet_sock_set_state');
  assert.equal(readFileSync(`${DIR}/tracing_on`, 'latin1').trim(), '1');
  assert.deepEqual(drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME)).rearmed, []);
});

const [major, minor] = release().split('.').map(Number);
const exclusiveKernel = major > 6 || (major === 6 && minor >= 6);

test('while another reader holds trace_pipe the drain waits, then says so; the kernel keeps a second reader out (6.6+)', { skip }, async () => {
  ensureTracefs();
  const r = drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME));
  // Older kernels may carry the change too (stable backports): only 6.6+ must have it.
  if (!exclusiveKernel) return;
  assert.equal(r.exclusive, true);
  const held = openSync(`${DIR}/trace_pipe`, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const busy = await drainFailureTrace(nodeTraceDoor(), undefined, NAME);
    assert.deepEqual(busy, { counted: false, reason: `another reader holds ${DIR}/trace_pipe` });
  } finally {
    closeSync(held);
  }
});

test('--failures=off removes the instance; without one it says counting is off', { skip }, async () => {
  ensureTracefs();
  drained(await drainFailureTrace(nodeTraceDoor(), undefined, NAME));
  assert.deepEqual(removeFailureTrace(nodeTraceDoor(), NAME), { counted: false, reason: `counting stopped: ${DIR} removed` });
  assert.equal(existsSync(DIR), false);
  assert.deepEqual(removeFailureTrace(nodeTraceDoor(), NAME), { counted: false, reason: 'counting is off (no trace instance)' });
});

test('without root, or where tracefs is not mounted: not counted, and why', async () => {
  const door = { ...nodeTraceDoor(), euid: 1000 };
  assert.deepEqual(await drainFailureTrace(door), { counted: false, reason: 'needs root (tracefs belongs to root)' });
  const unmounted = { ...nodeTraceDoor(), euid: 0, mounts: 'proc /proc proc rw 0 0\n' };
  const r = await drainFailureTrace(unmounted);
  assert.equal(r.counted, false);
  assert.match((r as NotCounted).reason, /^tracefs is not mounted/);
});

test('a kernel without the tracepoint: not counted, and no instance left behind', { skip }, async () => {
  ensureTracefs();
  removeFailureTrace(nodeTraceDoor(), NAME);
  const real = nodeTraceDoor();
  const door = {
    ...real,
    instance: (mountPoint: string, name: string) => {
      const i = real.instance(mountPoint, name);
      return { ...i, read: (file: string) => (file.startsWith('events/sock/') ? undefined : i.read(file)) };
    },
  };
  assert.deepEqual(await drainFailureTrace(door, undefined, NAME), { counted: false, reason: 'this kernel has no sock:inet_sock_set_state tracepoint (Linux 4.16 and later have it)' });
  assert.equal(existsSync(DIR), false);
});
