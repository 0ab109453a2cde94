import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeHost } from '../../src/host/node-host';

describe('the host: reading a program', () => {
  // Node reads a pipe in fresh 64 KiB allocations that only a collection frees; a reader
  // that allocates nothing per record triggers none, and would keep them all.
  it('holds a few MiB of buffers, not the whole output, while it reads 48 MiB', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'drain-memory.ts'), '48'], { encoding: 'utf8' });
    const { code, read, most } = JSON.parse(out) as { code: number; read: number; most: number };
    assert.equal(code, 0);
    assert.equal(read, 48 << 20);
    assert.ok(most < 8 << 20, `${(most / 1048576).toFixed(1)} MiB of buffers held at once`);
  });
});

describe('the host: reclaiming memory', () => {
  // --namespaces leaves each namespace's tables dead in the old generation, which V8 would
  // collect only once far more has piled up.
  it('frees dead typed arrays once they pass its threshold, and leaves a few MiB alone', () => {
    const run = (mib: number, patienceMs: number) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'reclaim-memory.ts'), String(mib), String(patienceMs)], { encoding: 'utf8' })) as { before: number; after: number };
    // Freed: waited for as long as a loaded machine takes (the wait ends once it is freed).
    const many = run(48, 60_000);
    assert.ok(many.before >= 48 << 20, `${many.before} bytes before`);
    assert.ok(many.after < 8 << 20, `${(many.after / 1048576).toFixed(1)} MiB left of ${(many.before / 1048576).toFixed(1)}`);
    // Kept: a short look suffices, a longer one only gives the runtime time of its own to collect.
    const few = run(8, 2000);
    assert.ok(few.after >= 8 << 20, `${(few.after / 1048576).toFixed(1)} MiB left of ${(few.before / 1048576).toFixed(1)}: collected below the threshold`);
  });
});

// /proc/crypto: a seq_file of a few pages whose text does not change while it is read.
const CRYPTO = '/proc/crypto';
const pages = existsSync(CRYPTO) ? readFileSync(CRYPTO) : Buffer.alloc(0);

describe('the host: reading a /proc file', { skip: pages.length <= 8192 && `${CRYPTO} missing or under two pages` }, () => {
  // The kernel gives one page per read(); the parse and the awaits should go per buffer.
  it('fills the buffer with the pages there are, not one per read, to the same bytes', async () => {
    const file = await nodeHost.open(CRYPTO);
    assert.ok(file !== undefined);
    const into = new Uint8Array(pages.length + 4096);
    const reads: number[] = [];
    let filled = 0;
    try {
      for (let n; (n = await file.read(into, filled, into.length - filled)) > 0; filled += n) reads.push(n);
    } finally {
      await file.close();
    }
    assert.deepEqual(Buffer.from(into.subarray(0, filled)), pages);
    // One read unless the process was held up past the 20 ms after which it yields; one per
    // page (here three) without the batching.
    assert.ok(reads.length < Math.ceil(pages.length / 4096), `reads of ${reads.join(', ')} bytes`);
  });
});
