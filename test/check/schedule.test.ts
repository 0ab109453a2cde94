import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Schedule } from '../../src/check/schedule';

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('at most `workers` at once, the most urgent queued first, tasks added meanwhile included', async () => {
  const s = new Schedule(2);
  const order: string[] = [];
  let running = 0;
  let most = 0;
  const task = (name: string, then?: () => void) => async () => {
    running++;
    most = Math.max(most, running);
    await tick();
    order.push(name);
    then?.();
    running--;
  };
  s.add([1, 0], task('sysctls a', () => s.add([0, 5], task('listing of a'))));
  s.add([1, 1], task('sysctls b'));
  s.add([1, 2], task('sysctls c'));
  s.add([1, 3], task('sysctls d'));
  await s.idle();
  assert.equal(most, 2);
  // a's listing, queued when a finished, goes before c and d, still queued then.
  assert.deepEqual(order, ['sysctls a', 'sysctls b', 'listing of a', 'sysctls c', 'sysctls d']);
});

test('a task that throws fails idle(), once the running ones are done; nothing more starts', async () => {
  const s = new Schedule(1);
  const ran: string[] = [];
  s.add([0], async () => {
    ran.push('first');
    throw new Error('boom');
  });
  s.add([1], async () => void ran.push('second'));
  await assert.rejects(s.idle(), /boom/);
  assert.deepEqual(ran, ['first']);
});

test('idle() with nothing queued resolves at once', async () => {
  await new Schedule(3).idle();
});
