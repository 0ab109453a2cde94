/**
 * Which ports bind() took, from the parity of `port - low` (docs/kernel-model.md, Rule 9):
 * the classification alone, on hand-made holders. The ground truth is
 * test/groundtruth/bind-first.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BindParityHolders, classifyBindParity, type BindParityInput } from '../../src/pools/bind-parity';

const LOW = 40000;
const HIGH = 40019; // 20 ports: 10 of connect parity (even offsets), 10 of bind parity

/** @param heldConnectParity per tuple, the connect-parity ports it holds */
function input(holders: BindParityHolders, heldConnectParity: number[], o: { low?: number; high?: number; listening?: number[]; reserved?: number[]; held?: number[]; reusable?: number[] } = {}): BindParityInput {
  const low = o.low ?? LOW;
  const high = o.high ?? HIGH;
  const usable = new Uint8Array(65536).fill(1, low, high + 1);
  for (const p of o.reserved ?? []) usable[p] = 0;
  const listening = new Uint8Array(65536);
  for (const p of o.listening ?? []) listening[p] = 1;
  const tcpHeld = new Uint8Array(65536);
  for (const p of o.held ?? []) tcpHeld[p] = 1;
  return { low, high, usable, listening, tcpHeld, holders, tuples: heldConnectParity.length, held: heldConnectParity, heldBindParity: heldConnectParity.map(() => 0), reusable: o.reusable ?? heldConnectParity.map(() => 0), reusableBindParity: heldConnectParity.map(() => 0) };
}

test('a bind-parity port of a tuple with connect parity left was taken by bind()', () => {
  const h = new BindParityHolders();
  h.add(40001, 0, false);
  h.add(40003, 0, true); // a TIME_WAIT that looks reusable: bind()'s all the same
  const r = classifyBindParity(input(h, [4]));
  assert.equal(r.taken, 2);
  assert.deepEqual([...r.boundAlone], [2]);
  assert.deepEqual([...r.spilled], [0]);
  assert.equal(r.undecidable, 0);
  assert.equal(r.connectParityPorts, 10);
});

test('a tuple that used up connect parity and spilled over: its bind-parity ports are undecidable, not bind()', () => {
  const h = new BindParityHolders();
  h.add(40001, 0, false);
  h.add(40003, 0, false);
  // The listener at 40002 and the reserved 40004 leave 8 ports of connect parity: all held.
  const r = classifyBindParity(input(h, [8], { listening: [40002], reserved: [40004] }));
  assert.deepEqual([...r.spilled], [1]);
  assert.equal(r.taken, 0);
  assert.equal(r.undecidable, 2);
  assert.equal(r.connectParityPorts, 8);
});

test('a port shared with a spilled tuple is bind()\'s when another holder had connect parity left', () => {
  const h = new BindParityHolders();
  h.add(40001, 0, false); // the spilled tuple, holding it
  h.add(40001, 1, false); // a client that bound first on another address
  h.add(40003, 0, true); // the spilled tuple, a reusable TIME_WAIT there
  h.add(40003, 1, false);
  const r = classifyBindParity(input(h, [10, 0]));
  assert.equal(r.taken, 2);
  assert.deepEqual([...r.boundAlone], [0, 2]);
  // Only what it holds comes off the spilled tuple's count: a reusable TIME_WAIT is not in it.
  assert.deepEqual([...r.takenFromSpilled], [1, 0]);
  assert.equal(r.sharedTaken, 0);
});

test('a port several tuples could each have bound is counted once, and named for none', () => {
  const h = new BindParityHolders();
  for (const t of [0, 1, 2]) h.add(40005, t, false); // a closed listener's accepted side
  h.add(40007, 3, false);
  h.add(40007, 4, false);
  const r = classifyBindParity(input(h, [0, 0, 0, 0, 0]));
  assert.equal(r.taken, 2);
  assert.equal(r.sharedTaken, 2);
  assert.deepEqual([...r.boundAlone], [0, 0, 0, 0, 0]);
});

test('three holders whose first two spilled: undecidable (the others are not kept)', () => {
  const h = new BindParityHolders();
  for (const t of [0, 1, 2]) h.add(40009, t, false);
  const r = classifyBindParity(input(h, [10, 10, 0]));
  assert.equal(r.taken, 0);
  assert.equal(r.undecidable, 1);
});

test('an odd low end: parity counts from low, not from zero', () => {
  const h = new BindParityHolders();
  h.add(42002, 0, false); // offset 1 from 42001: bind parity
  h.add(42001, 0, false); // offset 0: connect parity, never looked at here
  const r = classifyBindParity(input(h, [1], { low: 42001, high: 42020 }));
  assert.equal(r.taken, 1);
  assert.deepEqual([...r.boundAlone], [1]);
});

test('listeners and reserved ports are never in B; a full bind parity is flagged', () => {
  const h = new BindParityHolders();
  h.add(40011, 0, false);
  h.add(40013, 0, false);
  const odd = Array.from({ length: 10 }, (_, i) => LOW + 2 * i + 1);
  const r = classifyBindParity(input(h, [0], { listening: [40011], reserved: [40013], held: odd }));
  assert.equal(r.taken, 0);
  assert.equal(r.bindParityFull, true);
  assert.equal(classifyBindParity(input(new BindParityHolders(), [0], { held: odd.slice(1) })).bindParityFull, false);
});

test('TIME_WAITs connect() may reuse now still fill connect parity: a spill stays a spill after they age', () => {
  const h = new BindParityHolders();
  h.add(40001, 0, false);
  // 6 connect-parity ports held, 4 more in TIME_WAIT old enough to be reused: all 10.
  assert.equal(classifyBindParity(input(h, [6], { reusable: [4] })).taken, 0);
  assert.equal(classifyBindParity(input(h, [6], { reusable: [3] })).taken, 1);
});
