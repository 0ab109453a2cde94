// The floor of any check in Node that reads every namespace's sysctls as root: node
// spawning `nsenter --net=/proc/PID/ns/net -- sysctl -e ...` for each pid given, as many at
// once as the machine has CPUs, reading each one's output and nothing else. Node forks
// itself for every program it runs (libuv, on Linux), which blocks its main thread for a
// time that grows with its memory: what the sequential shell loop, forking a small shell,
// does not pay. Usage: node sysctl-floor.js PID...
const { spawn } = require('node:child_process');
const { availableParallelism, cpus } = require('node:os');

const SYSCTLS = ['ip_local_port_range', 'ip_local_reserved_ports', 'tcp_tw_reuse', 'tcp_tw_reuse_delay', 'tcp_timestamps'].map((n) => `net.ipv4.${n}`);
const pids = process.argv.slice(2);
const workers = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;

function one(pid) {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/nsenter', [`--net=/proc/${pid}/ns/net`, '--', '/usr/sbin/sysctl', '-e', ...SYSCTLS], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

async function main() {
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (next < pids.length) await one(pids[next++]);
  }));
}

main();
