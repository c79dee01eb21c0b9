/**
 * Self-test of the fleet testbed (test/helpers/testbed.ts): real sshds in network namespaces, reached with the
 * real ssh client, each with its own file system view, one faking an old glibc.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestbed, testbedProblem, type Testbed } from '../helpers/testbed.js';

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runProgram(cmd: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

const problem = testbedProblem();
// On CI a missing capability is a failure (in before()), elsewhere a skip.
const skip = problem !== undefined && process.env.CI === undefined ? `testbed: ${problem}` : false;

describe('testbed', { skip }, () => {
  let tb: Testbed;
  let startMs = 0;

  /** ssh with strict host key checking against the testbed's known_hosts. */
  const ssh = (name: string, command: string, options: readonly string[] = []) =>
    runProgram('ssh', [
      // ssh keeps the first value it sees for an option, so the caller's come first.
      ...options,
      '-F',
      tb.sshConfig,
      '-o',
      `UserKnownHostsFile=${tb.knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      `root@${tb.host(name).ip}`,
      '--',
      command,
    ]);

  before(async () => {
    if (problem !== undefined) throw new Error(`CI needs a testbed, which this machine lacks: ${problem}`);
    const t0 = performance.now();
    tb = await startTestbed([{ name: 'h1' }, { name: 'h2' }, { name: 'old', glibc: '2.17' }]);
    startMs = performance.now() - t0;
  });

  after(async () => {
    await tb?.stop();
  });

  test('every host answers over ssh with its pre-trusted key', async (t) => {
    t.diagnostic(`startTestbed for 3 hosts took ${Math.round(startMs)} ms`);
    for (const h of tb.hosts) {
      const r = await ssh(h.name, 'echo ok');
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'ok\n', ''], h.name);
    }
  });

  test('root logs in with /bin/sh and a per-host home', async () => {
    const r = await ssh('h1', 'echo "$SHELL $HOME"');
    assert.equal(r.stdout, `/bin/sh ${join(tb.dir, 'hosts', 'h1', 'home')}\n`);
  });

  test('mountDir is private to each host', async () => {
    const marker = join(tb.mountDir, 'marker');
    const w = await ssh('h1', `echo from-h1 > ${marker}`);
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await ssh('h1', `cat ${marker}`)).stdout, 'from-h1\n');
    assert.equal(await tb.exec('h1', ['cat', marker]), 'from-h1\n');
    assert.equal(await fs.readFile(join(tb.host('h1').fsDir, 'marker'), 'utf8'), 'from-h1\n');
    const other = await ssh('h2', `ls -A ${tb.mountDir}`);
    assert.deepEqual([other.code, other.stdout], [0, '']);
    assert.equal(existsSync(marker), false, 'bind leaked into the root namespace');
    const mounts = await fs.readFile('/proc/self/mountinfo', 'utf8');
    assert.equal(mounts.includes(tb.dir), false, 'a testbed mount is visible in the root namespace');
  });

  test('the old host reports glibc 2.17, the others the real one', async () => {
    const real = (await runProgram('getconf', ['GNU_LIBC_VERSION'])).stdout;
    assert.match(real, /^glibc \d+\.\d+\n$/);
    assert.equal((await ssh('old', 'getconf GNU_LIBC_VERSION')).stdout, 'glibc 2.17\n');
    assert.equal((await ssh('old', 'ldd --version')).stdout.split('\n')[0], 'ldd (GNU libc) 2.17');
    assert.equal(
      (await ssh('old', 'getconf PAGESIZE')).stdout,
      (await runProgram('getconf', ['PAGESIZE'])).stdout,
    );
    assert.equal((await ssh('h1', 'getconf GNU_LIBC_VERSION')).stdout, real);
    assert.match((await ssh('h1', 'ldd --version')).stdout, /^ldd \(.*\) \d+\.\d+\n/);
  });

  test('killConnections drops a ControlMaster connection and keeps the listener', async () => {
    const controlPath = join(tb.dir, 'cm-h2');
    const master = spawn(
      'ssh',
      [
        '-F',
        tb.sshConfig,
        '-o',
        `UserKnownHostsFile=${tb.knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
      ].concat(['-M', '-N', '-o', `ControlPath=${controlPath}`, `root@${tb.host('h2').ip}`]),
      { stdio: 'ignore' },
    );
    const masterExit = new Promise<number | null>((resolve) => master.on('exit', resolve));
    try {
      await waitFor(() => existsSync(controlPath), 10_000, 'control socket');
      const sleeping = ssh('h2', 'sleep 30', ['-o', `ControlPath=${controlPath}`]);
      await waitFor(
        async () => (await nsCommands(tb.host('h2').ns)).includes('sleep'),
        10_000,
        'sleep on h2',
      );
      const t0 = performance.now();
      await tb.killConnections('h2');
      const r = await sleeping;
      assert.notEqual(r.code, 0);
      assert.ok(performance.now() - t0 < 10_000, 'the ssh command did not end promptly');
      assert.notEqual(await masterExit, 0);
    } finally {
      master.kill('SIGKILL');
    }
    assert.equal((await ssh('h2', 'echo ok')).stdout, 'ok\n');
  });

  test('changeHostKey makes strict checking refuse, and the new key is served', async () => {
    const before = tb.host('old').hostKeyPub;
    const changed = await tb.changeHostKey('old');
    assert.notEqual(changed, before);
    assert.equal(tb.host('old').hostKeyPub, changed);
    const refused = await ssh('old', 'echo ok');
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /IDENTIFICATION HAS CHANGED|verification failed/);
    const newKnown = join(tb.dir, 'known_hosts.new');
    await fs.writeFile(newKnown, `${tb.host('old').ip} ${changed}\n`);
    const ok = await ssh('old', 'getconf GNU_LIBC_VERSION', ['-o', `UserKnownHostsFile=${newKnown}`]);
    assert.equal(ok.stdout, 'glibc 2.17\n', 'the restarted sshd lost its file system view');
  });

  test('stop removes namespaces, interfaces, processes and the directory, and can be repeated', async () => {
    const pids = (await Promise.all(tb.hosts.map((h) => nsPids(h.ns)))).flat();
    assert.ok(pids.length >= tb.hosts.length, 'no sshd listeners found');
    await tb.stop();
    await tb.stop();
    const netns = (await runProgram('ip', ['netns', 'list'])).stdout;
    const links = (await runProgram('ip', ['-o', 'link'])).stdout;
    for (const h of tb.hosts) {
      assert.equal(netns.includes(h.ns), false, `namespace ${h.ns} left`);
      // The harness names a host's namespace ferry-tb-ID and its root-side veth tbIDr.
      assert.equal(links.includes(`tb${h.ns.slice('ferry-tb-'.length)}r`), false, `veth of ${h.name} left`);
    }
    assert.equal(existsSync(tb.dir), false);
    for (const pid of pids) assert.equal(await isRunning(pid), false, `pid ${pid} left`);
  });
});

async function nsPids(ns: string): Promise<number[]> {
  const out = (await runProgram('ip', ['netns', 'pids', ns])).stdout;
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

/** Command names of the processes in a namespace (pgrep would search the whole machine: one pid namespace). */
async function nsCommands(ns: string): Promise<string[]> {
  const names = await Promise.all(
    (await nsPids(ns)).map((p) => fs.readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')),
  );
  return names.map((n) => n.trim());
}

async function isRunning(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/\) [ZX] /.test(stat);
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
