/**
 * The entry point, and the only code that touches `process`. Node exits 1 (= WARNING to a
 * monitoring system) on an uncaught exception, so every path out of here is an explicit
 * 0-3 with a status line on stdout, written synchronously so nothing is lost on exit.
 */
import { writeSync } from 'node:fs';
import { nodeHost } from './host/node-host';
import { requestedFormat, type Format } from './cli/options';
import { internalError, renderFailure, run, type RunResult } from './run';

function emit(result: RunResult): never {
  const bytes = Buffer.from(result.stdout);
  for (let offset = 0; offset < bytes.length; ) {
    try {
      offset += writeSync(1, bytes, offset);
    } catch (err) {
      // A non-blocking pipe that is full: retry; any other error leaves nothing to tell.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') break;
    }
  }
  process.exit(result.exitCode);
}

function crash(err: unknown): never {
  let format: Format = 'nagios';
  try {
    format = requestedFormat(process.argv.slice(2));
  } catch {
    // nagios, then: the crash itself must still be answered
  }
  return emit({ exitCode: 3, stdout: renderFailure(format, { kind: 'unknown', message: internalError(err) }) });
}

process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stop.abort(signal));

run(process.argv.slice(2), nodeHost, stop.signal).then(emit, crash);
