/**
 * Run as a process of its own by node-host.test.ts, so that nothing else allocates while it
 * reads (as in the check, whose parser allocates nothing per record): drains N MiB of
 * /dev/zero through nodeHost and prints the most memory its buffers held meanwhile.
 */
import { nodeHost } from '../../src/host/node-host';

async function main(): Promise<void> {
  const total = Number(process.argv[2]) << 20;
  const child = await nodeHost.spawn?.('/usr/bin/head', ['-c', String(total), '/dev/zero'], new AbortController().signal);
  if (child === undefined) throw new Error('/usr/bin/head does not run');
  let read = 0;
  let most = 0;
  let chunks = 0;
  const end = await child.drain((chunk) => {
    read += chunk.length;
    // Not at every chunk: asking is itself an allocation, and enough of them collect.
    if (++chunks % 16 === 0) most = Math.max(most, process.memoryUsage().arrayBuffers);
  });
  console.log(JSON.stringify({ code: end.code, read, most }));
}

void main();
