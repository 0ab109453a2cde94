// Bundles src/main.ts into the one committed executable, dist/check_ephemeral_ports.
// Deterministic on purpose: CI rebuilds and fails when dist/ differs from this output.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const outfile = 'dist/check_ephemeral_ports';
await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  outfile,
  banner: { js: '#!/usr/bin/env node' },
  legalComments: 'inline',
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
