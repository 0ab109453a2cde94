import assert from 'node:assert/strict';
import { test } from 'node:test';
import { discoverNamespaces } from '../../src/namespaces/discover';
import { containerName, namespaceName, safeText } from '../../src/namespaces/names';
import { fakeProc } from './fake-proc';

const ID = '3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899';
const UID = '0c8f5a1e-3b2d-4c6e-9f10-2a4b6c8d0e1f';

test('cgroup layouts: kubepods (systemd and cgroupfs drivers, static pods), docker, containerd, cri-o, podman, lxc, nspawn', () => {
  const cases: [string, string | null][] = [
    [`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope\n`, `pod ${UID}`],
    [`0::/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope\n`, `pod ${UID}`],
    [`12:memory:/kubepods/besteffort/pod${UID}/${ID}\n11:pids:/kubepods/besteffort/pod${UID}/${ID}\n`, `pod ${UID}`],
    [`0::/kubepods/burstable/pod6b8d0b1e0f6a4b8e8f1e2e3d4c5b6a7f/${ID}\n`, 'pod 6b8d0b1e0f6a4b8e8f1e2e3d4c5b6a7f'],
    [`0::/system.slice/docker-${ID}.scope\n`, 'docker 3f4e5d6c7b8a'],
    [`9:name=systemd:/docker/${ID}\n0::/\n`, 'docker 3f4e5d6c7b8a'],
    [`0::/system.slice/cri-containerd-${ID}.scope\n`, 'containerd 3f4e5d6c7b8a'],
    [`0::/system.slice/crio-${ID}.scope\n`, 'cri-o 3f4e5d6c7b8a'],
    [`0::/machine.slice/libpod-${ID}.scope/container\n`, 'podman 3f4e5d6c7b8a'],
    ['0::/lxc.payload.web01/init.scope\n', 'lxc web01'],
    ['0::/machine.slice/systemd-nspawn@build.service/payload\n', 'machine build'],
    ['0::/user.slice/user-1000.slice/session-3.scope\n', null],
    ['0::/\n', null],
    // Shapes that are only nearly right are not trusted.
    ['0::/system.slice/docker-xyz.scope\n', null],
    ['0::/lxc.payload.we|b\n', null],
  ];
  for (const [cgroup, name] of cases) assert.equal(containerName(cgroup), name, cgroup);
});

test('names: host for pid 1\'s, then pod or container, then /run/netns, then process name and pid', async () => {
  const host = fakeProc([
    { pid: 1, netns: 1, cgroup: '0::/init.scope\n' },
    { pid: 20, netns: 2, comm: 'pause', cgroup: `0::/kubepods/besteffort/pod${UID}/${ID}\n` },
    { pid: 30, netns: 3, comm: 'dnsmasq' },
    { pid: 40, netns: 4, comm: 'evil|\nEPHEMERAL' },
    // A container sharing the host's network is still the host.
    { pid: 50, netns: 1, cgroup: `0::/system.slice/docker-${ID}.scope\n` },
  ], { self: 1, runNetns: { 'blue-net': 3, 'no-process': 9 } });
  const refs = await discoverNamespaces(host);
  const names = [];
  for (const r of refs) names.push(await namespaceName(host, r));
  assert.deepEqual(names, ['host', `pod ${UID}`, 'netns blue-net', 'evil??EPHEMERAL (pid 40)', 'netns no-process']);
});

test('text a process chose is cut to a safe alphabet', () => {
  assert.equal(safeText('java', 16), 'java');
  assert.equal(safeText('kworker/0:1H', 16), 'kworker/0:1H');
  assert.equal(safeText('a b|c"d\u00e9', 16), 'a?b?c?d?');
  assert.equal(safeText('x'.repeat(70), 64), `${'x'.repeat(64)}...`);
});
