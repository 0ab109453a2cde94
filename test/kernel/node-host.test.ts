import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

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
