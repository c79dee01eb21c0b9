/**
 * Fleet e2e: `ferry deploy`, `status`, `plan --hosts`, `rollback --hosts` and `hosts trust` against real sshd
 * hosts in network namespaces (test/helpers/testbed.ts), each with its own file system view.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { examplePorts, makeSandbox, repoDir, type CliResult, type Sandboxed } from '../helpers/cli.js';
import { startTestbed, testbedProblem, type Testbed } from '../helpers/testbed.js';

const problem = testbedProblem();
// On CI a missing capability fails (in before()); elsewhere the suite is skipped with the reason.
const skip = problem !== undefined && process.env.CI === undefined ? `testbed: ${problem}` : false;

interface Project {
  readonly dir: string;
  ferry(args: readonly string[], input?: string): Promise<CliResult>;
  write(toml: string): Promise<void>;
}

function project(sb: Sandboxed, name: string): Project {
  const dir = join(sb.dir, name);
  return {
    dir,
    ferry: (args, input) =>
      sb.ferry([...args, '--manifest', join(dir, 'ferry.toml')], input === undefined ? {} : { input }),
    write: async (toml) => {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(join(dir, 'ferry.toml'), toml);
    },
  };
}

function json(r: CliResult): unknown {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

interface Outcome {
  host: string;
  result: string;
  bytesSent: number;
  pathsSent: number;
  codec?: string;
  steps: { profile: string; from: number | null; to: number | null }[];
  error?: { code: string; message: string };
}

/** The generation a host's profile points at, read from the host's own file system. */
function currentGen(tb: Testbed, host: string, rootRel: string, profile: string): string | undefined {
  const link = join(tb.host(host).fsDir, rootRel, 'profiles', profile);
  return existsSync(link) ? readlinkSync(link) : undefined;
}

function hostToml(
  tb: Testbed,
  name: string,
  opts: { key?: string; root?: string; profiles?: string[]; check?: string; groups?: string[] } = {},
): string {
  const h = tb.host(name);
  return [
    `[hosts.${JSON.stringify(opts.key ?? name)}]`,
    `ssh = "root@${h.ip}:${h.port}"`,
    `root = ${JSON.stringify(join(tb.mountDir, opts.root ?? 'app/ferry'))}`,
    `profiles = ${JSON.stringify(opts.profiles ?? ['web'])}`,
    `groups = ${JSON.stringify(opts.groups ?? [])}`,
    ...(opts.check === undefined ? [] : [`check = ${JSON.stringify(opts.check)}`]),
    '',
  ].join('\n');
}

describe('fleet over real ssh hosts', { skip }, () => {
  let tb: Testbed;
  let sb: Sandboxed;
  let web: Project;
  let header: string;

  before(async () => {
    if (problem !== undefined)
      throw new Error(`CI needs the fleet testbed, which this machine lacks: ${problem}`);
    tb = await startTestbed([
      { name: 'h1' },
      { name: 'h2' },
      { name: 'h3', zstd: false },
      { name: 'old', glibc: '2.17' },
    ]);
    sb = makeSandbox('ferry-fleet-');
    web = project(sb, 'web');
    await fs.mkdir(web.dir, { recursive: true });
    await fs.copyFile(tb.knownHosts, join(web.dir, 'known_hosts'));
    header = [
      `ports = [${JSON.stringify(examplePorts)}]`,
      '[fleet]',
      `ssh-config = ${JSON.stringify(tb.sshConfig)}`,
      'known-hosts = "known_hosts"',
      '[audit]',
      `sources = [${JSON.stringify(join(repoDir, 'test/fixtures/audit/osv'))}]`,
      '',
    ].join('\n');
  });

  after(async () => {
    await tb?.stop();
    await sb?.cleanup();
  });

  const webToml = (packages: string[], checkH1 = 'hello') =>
    [
      header,
      `[profiles.web]\npackages = ${JSON.stringify(packages)}\n`,
      hostToml(tb, 'h1', { check: checkH1, groups: ['canary'] }),
      hostToml(tb, 'h2', { groups: ['rest'] }),
      hostToml(tb, 'h3', { groups: ['rest'], check: 'hello | grep -q world' }),
      hostToml(tb, 'old', { groups: ['legacy'] }),
    ].join('\n');

  test('deploy to three hosts: each runs the program, with its library, from its own root', async () => {
    await web.write(webToml(['hello']));
    assert.equal((await web.ferry(['lock'])).code, 0);
    const r = await web.ferry(['deploy', 'h1', 'rest', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = (json(r) as { hosts: Outcome[] }).hosts;
    assert.deepEqual(
      out.map((o) => [o.host, o.result, o.codec]),
      [
        ['h1', 'switched', 'zstd'],
        ['h2', 'switched', 'zstd'],
        ['h3', 'switched', 'gzip'], // its zstd does not work
      ],
    );
    for (const o of out) {
      assert.equal(o.pathsSent, 2);
      assert.ok(o.bytesSent > 0);
      assert.equal(currentGen(tb, o.host, 'app/ferry', 'web'), 'web.d/1');
      const said = await tb.exec(o.host, [join(tb.mountDir, 'app/ferry/profiles/web/bin/hello')]);
      assert.match(said, /libgreet 2\.0/);
    }
    assert.ok(
      !existsSync(join(tb.mountDir, 'app')),
      "nothing lands in the controller's own view of the path",
    );
  });

  test('a second deploy sends nothing and makes no generation', async () => {
    const r = await web.ferry(['deploy', 'h1', 'rest', '--json']);
    assert.equal(r.code, 0, r.stderr);
    for (const o of (json(r) as { hosts: Outcome[] }).hosts) {
      assert.equal(o.result, 'unchanged');
      assert.equal(o.bytesSent, 0);
      assert.deepEqual(
        readdirSync(join(tb.host(o.host).fsDir, 'app/ferry/profiles/web.d')).filter(
          (n) => !n.startsWith('.'),
        ),
        ['1'],
      );
    }
  });

  test('status: platform, generation, and whether each host is behind the lock', async () => {
    const r = await web.ferry(['status', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const hosts = (
      json(r) as {
        hosts: {
          host: string;
          reachable: boolean;
          platform: { glibc: string };
          profiles: { generation: number | null; behind: boolean }[];
        }[];
      }
    ).hosts;
    assert.deepEqual(
      hosts.map((h) => [h.host, h.reachable, h.profiles[0]?.generation, h.profiles[0]?.behind]),
      [
        ['h1', true, 1, false],
        ['h2', true, 1, false],
        ['h3', true, 1, false],
        ['old', true, null, true],
      ],
    );
    assert.equal(hosts[3]?.platform.glibc, '2.17');
  });

  test('audit --hosts: what the hosts run, against advisories, with where each finding is', async () => {
    const r = await web.ferry(['audit', '--hosts', 'all', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const report = json(r) as {
      scope: string;
      findings: { name: string; version: string; id: string; where: string[] }[];
    };
    assert.equal(report.scope, 'hosts');
    assert.deepEqual(
      report.findings.map((f) => `${f.name} ${f.version} ${f.id} ${f.where.join(',')}`),
      [
        'hello 2.0 ALPINE-CVE-2024-90004 h1:web,h2:web,h3:web',
        'libgreet 2.0 DEBIAN-CVE-2023-90001 h1:web,h2:web,h3:web',
      ],
    );
  });

  test('a host whose glibc is too old is refused before anything is copied', async () => {
    const r = await web.ferry(['deploy', 'legacy', '--json']);
    assert.equal(r.code, 1);
    const o = (json(r) as { hosts: Outcome[] }).hosts[0];
    assert.equal(o?.error?.code, 'E_FLEET_PLATFORM');
    assert.match(
      o?.error?.message ?? '',
      /old: (hello|libgreet) 2\.0 \(\S+\) needs glibc 2\.\d+; old has glibc 2\.17/,
    );
    assert.ok(!existsSync(join(tb.host('old').fsDir, 'app/ferry/store')), 'no store path was copied');
  });

  test('plan --hosts: what each host receives, and what it would REMOVE', async () => {
    await web.write(webToml(['hello < 2']));
    assert.equal((await web.ferry(['lock'])).code, 0);
    const r = await web.ferry(['plan', '--hosts', 'h1,h2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /h1: receives 1 store path\(s\)/, 'hello 1.0 only: libgreet 2.0 is there');
    assert.match(r.stdout, /web: generation 1 → 2\n.*↓ hello 2\.0 → 1\.0/);
    assert.match(r.stdout, /advisory fixed: ALPINE-CVE-2024-90004 in hello 2\.0/);
    await web.write(webToml([]));
    assert.equal((await web.ferry(['lock'])).code, 0);
    const rm = await web.ferry(['plan', '--hosts', 'h2']);
    assert.match(rm.stdout, /- hello 2\.0 {3}REMOVED/);
    const refused = await web.ferry(['deploy', 'h2']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /E_PLAN_REMOVES.*h2: hello \(web\)/);
    assert.equal(currentGen(tb, 'h2', 'app/ferry', 'web'), 'web.d/1', 'nothing switched without --yes');
  });

  test('a canary whose check fails is switched back; the others are not touched', async () => {
    await web.write(webToml(['hello < 2'], 'hello | grep -q HELLO'));
    assert.equal((await web.ferry(['lock'])).code, 0);
    const r = await web.ferry(['deploy', 'h1', 'rest', '--canary', '1', '--json']);
    assert.equal(r.code, 1, r.stdout);
    const out = (json(r) as { hosts: Outcome[] }).hosts;
    assert.deepEqual(
      out.map((o) => [o.host, o.result, o.error?.code]),
      [
        ['h1', 'rolled-back', 'E_FLEET_CHECK'],
        ['h2', 'halted', 'E_FLEET_HALTED'],
        ['h3', 'halted', 'E_FLEET_HALTED'],
      ],
    );
    for (const h of ['h1', 'h2', 'h3']) assert.equal(currentGen(tb, h, 'app/ferry', 'web'), 'web.d/1', h);
    assert.ok(
      !existsSync(join(tb.host('h2').fsDir, 'app/ferry/profiles/web.d/2')),
      'staged generation removed',
    );
    assert.match(await tb.exec('h1', [join(tb.mountDir, 'app/ferry/profiles/web/bin/hello')]), /^HELLO/);
  });

  test('batches switch the rest; rollback --hosts goes back one generation', async () => {
    await web.write(webToml(['hello < 2']));
    const r = await web.ferry(['deploy', 'h1', 'rest', '--canary', '1', '--batch', '1', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const h of ['h1', 'h2', 'h3']) {
      assert.match(currentGen(tb, h, 'app/ferry', 'web') ?? '', /^web\.d\/[23]$/, h);
      assert.match(
        await tb.exec(h, [join(tb.mountDir, 'app/ferry/profiles/web/bin/hello')]),
        /^hello, world/,
      );
    }
    const back = await web.ferry(['rollback', '--hosts', 'h2', '--json']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.equal(currentGen(tb, 'h2', 'app/ferry', 'web'), 'web.d/1');
    assert.match(await tb.exec('h2', [join(tb.mountDir, 'app/ferry/profiles/web/bin/hello')]), /^HELLO/);
  });

  test('a changed host key stops that host; hosts trust records the new one only for the named fingerprint', async () => {
    const pub = await tb.changeHostKey('h3');
    const r = await web.ferry(['status', 'h3', '--json']);
    assert.equal(r.code, 1);
    const h = (json(r) as { hosts: { error: { code: string; message: string } }[] }).hosts[0];
    assert.equal(h?.error.code, 'E_FLEET_HOSTKEY');
    assert.match(h?.error.message ?? '', /CHANGED/);
    const noTty = await web.ferry(['hosts', 'trust', 'h3']);
    assert.equal(noTty.code, 1, 'never accepted without a confirmation');
    assert.match(noTty.stderr, /E_FLEET_HOSTKEY[\s\S]*--fingerprint SHA256:/);
    const wrong = await web.ferry([
      'hosts',
      'trust',
      'h3',
      '--fingerprint',
      'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ]);
    assert.equal(wrong.code, 1);
    const fp = await fingerprint(pub);
    const ok = await web.ferry(['hosts', 'trust', 'h3', '--fingerprint', fp]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /replacing its earlier key/);
    assert.equal((await web.ferry(['status', 'h3'])).code, 0);
  });

  test('hosts trust reaches a host as ssh does: an ssh_config alias behind a jump host (ssh-keyscan could not)', async () => {
    const h = tb.host('h2');
    const p = project(sb, 'alias');
    await fs.mkdir(p.dir, { recursive: true });
    // The alias, its address and its jump host are only in this ssh_config; the testbed's settings come last.
    const config = join(p.dir, 'ssh_config');
    await fs.writeFile(
      config,
      [
        // Reached through a jump host (h2 itself: the testbed's hosts only reach the machine they run on).
        `Host web-alias\n  HostName ${h.ip}\n  Port ${h.port}\n  HostKeyAlias web-alias.example\n  ProxyJump jumpbox`,
        `Host jumpbox\n  HostName ${h.ip}\n  Port ${h.port}\n  User root\n  UserKnownHostsFile ${tb.knownHosts}`,
        `Host *\nInclude ${tb.sshConfig}\n`,
      ].join('\n'),
    );
    await p.write(
      [
        header
          .replace(/^ssh-config = .*$/m, `ssh-config = ${JSON.stringify(config)}`)
          .replace('known-hosts = "known_hosts"', 'known-hosts = "alias_known_hosts"'),
        '[profiles.web]\npackages = ["hello"]\n',
        `[hosts.a2]\nssh = "root@web-alias"\nroot = ${JSON.stringify(join(tb.mountDir, 'alias/ferry'))}\nprofiles = ["web"]\n`,
      ].join('\n'),
    );
    assert.equal((await p.ferry(['status'])).code, 1, 'unknown before it is trusted');
    const wrong = await p.ferry([
      'hosts',
      'trust',
      'a2',
      '--fingerprint',
      'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ]);
    assert.equal(wrong.code, 1);
    assert.ok(!existsSync(join(p.dir, 'alias_known_hosts')), 'nothing recorded for a key nobody vouched for');
    const offered = /it offers \S+ (SHA256:[A-Za-z0-9+/]+)/.exec(wrong.stderr)?.[1] ?? '';
    // The key offered through the alias is h2's own (as the testbed recorded it under h2's address).
    const own = (await fs.readFile(tb.knownHosts, 'utf8')).split('\n').find((l) => l.includes(h.ip)) ?? '';
    assert.equal(offered, await fingerprint(own));
    const ok = await p.ferry(['hosts', 'trust', 'a2', '--fingerprint', offered]);
    assert.equal(ok.code, 0, ok.stderr);
    // Recorded under the name ssh looks it up by (the HostKeyAlias), so the next command finds it.
    assert.match(await fs.readFile(join(p.dir, 'alias_known_hosts'), 'utf8'), /^web-alias\.example /m);
    assert.equal((await p.ferry(['lock'])).code, 0);
    const r = await p.ferry(['deploy', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('an unknown host key is refused, never added', async () => {
    const p = project(sb, 'unknown');
    await p.write(
      [
        header.replace('known-hosts = "known_hosts"', 'known-hosts = "empty_known_hosts"'),
        '[profiles.web]\npackages = ["hello"]\n',
        hostToml(tb, 'h2'),
      ].join('\n'),
    );
    const r = await p.ferry(['status', '--json']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /E_FLEET_HOSTKEY[\s\S]*not known/);
    assert.ok(!existsSync(join(p.dir, 'empty_known_hosts')));
  });

  /**
   * A project deploying three packages of 24 MB of random bytes each to `host` (root `<name>/ferry`), built
   * already; `complete()` lists those that are whole in the host's store.
   */
  async function blobProject(name: string, host: string) {
    const ports = join(sb.dir, `${name}-ports`);
    for (const n of ['a', 'b', 'c']) {
      await fs.mkdir(join(ports, `blob-${n}`), { recursive: true });
      await fs.writeFile(
        join(ports, `blob-${n}`, '1.0.toml'),
        `name = "blob-${n}"\nversion = "1.0"\nsummary = "incompressible bytes"\nlicense = "MIT"\n[build]\nsystem = "script"\nscript = 'mkdir -p "$PREFIX/share" && head -c 24000000 /dev/urandom > "$PREFIX/share/${n}.bin"'\n`,
      );
    }
    const p = project(sb, name);
    await fs.mkdir(p.dir, { recursive: true });
    await fs.copyFile(tb.knownHosts, join(p.dir, 'known_hosts'));
    await p.write(
      [
        header.replace(/^ports = .*$/m, `ports = [${JSON.stringify(ports)}]`),
        '[profiles.big]\npackages = ["blob-a", "blob-b", "blob-c"]\n',
        hostToml(tb, host, { root: `${name}/ferry`, profiles: ['big'] }),
      ].join('\n'),
    );
    assert.equal((await p.ferry(['lock'])).code, 0);
    assert.equal((await p.ferry(['build', '--profile', 'big'])).code, 0, 'built before the clock starts');
    const store = join(tb.host(host).fsDir, `${name}/ferry/store`);
    const complete = () =>
      existsSync(store) ? readdirSync(store).filter((n) => n.includes('-blob-') && !n.startsWith('.')) : [];
    return { p, store, complete };
  }

  test('a connection killed mid-copy leaves the host on its old generation; the next deploy resumes', async () => {
    const { p, store, complete } = await blobProject('big', 'h2');
    const run = p.ferry(['deploy', '--json']);
    while (complete().length === 0) await new Promise((r) => setTimeout(r, 5));
    await tb.killConnections('h2');
    const cut = await run;
    assert.equal(cut.code, 1, cut.stdout);
    const o = (json(cut) as { hosts: Outcome[] }).hosts[0];
    assert.equal(o?.error?.code, 'E_FLEET_CONNECT', JSON.stringify(o));
    const landed = complete();
    assert.ok(landed.length >= 1 && landed.length < 3, `landed: ${landed.join(', ')}`);
    for (const id of landed) assert.ok(existsSync(join(store, '.meta', `${id}.json`)), `${id} is registered`);
    assert.equal(currentGen(tb, 'h2', 'big/ferry', 'big'), undefined, 'still on its old (no) generation');
    const again = await p.ferry(['deploy', '--json']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const o2 = (json(again) as { hosts: Outcome[] }).hosts[0];
    assert.equal(o2?.pathsSent, 3 - landed.length, 'only what was missing is sent');
    assert.equal(currentGen(tb, 'h2', 'big/ferry', 'big'), 'big.d/1');
    assert.equal(complete().length, 3);
  });

  test('ferry stopped by SIGTERM mid-copy leaves no ssh behind and the host on its old generation', async () => {
    const { p, complete } = await blobProject('term', 'h1');
    const child = sb.spawnFerry(['deploy', '--json', '--manifest', join(p.dir, 'ferry.toml')]);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        resolve(code);
      }),
    );
    while (complete().length === 0) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGTERM');
    await exited;
    // Every ssh of this testbed (masters and sessions) names its ssh_config on the command line.
    const ours = () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            const argv = readFileSync(join('/proc', d, 'cmdline'), 'utf8').split('\0');
            return argv[0]?.endsWith('ssh') === true && argv.includes(tb.sshConfig);
          } catch {
            return false; // gone meanwhile
          }
        });
    for (let i = 0; i < 100 && ours().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ours(), [], 'no ssh process outlives ferry');
    assert.equal(currentGen(tb, 'h1', 'term/ferry', 'big'), undefined, 'still on its old (no) generation');
    const again = await p.ferry(['deploy', '--json']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(currentGen(tb, 'h1', 'term/ferry', 'big'), 'big.d/1');
    assert.equal(complete().length, 3);
  });

  test('a check that does not answer in time counts as failed; the host switches itself back', async () => {
    const p = project(sb, 'slow');
    await p.write(
      [
        `ports = [${JSON.stringify(examplePorts)}]`,
        '[profiles.web]\npackages = ["hello"]\n',
        '[hosts.local]\npath = "local"\nprofiles = ["web"]\ncheck = "sleep 30"\ncheck-timeout = 1\n',
      ].join('\n'),
    );
    const started = Date.now();
    const r = await p.ferry(['deploy', '--json']);
    assert.equal(r.code, 1, r.stdout);
    assert.ok(Date.now() - started < 20_000, 'the check was stopped, not waited for');
    const o = (json(r) as { hosts: Outcome[] }).hosts[0];
    assert.equal(o?.result, 'rolled-back');
    assert.match(o?.error?.message ?? '', /no answer within 1 s/);
    assert.ok(!existsSync(join(p.dir, 'local/profiles/web')), 'back to no generation at all');
  });

  test('a host whose current generation cannot be read: the deploy asks, as for a removal', async () => {
    const p = project(sb, 'blind');
    const toml = (packages: string[]) =>
      [
        `ports = [${JSON.stringify(examplePorts)}]`,
        `[profiles.web]\npackages = ${JSON.stringify(packages)}\n`,
        '[hosts.local]\npath = "local"\nprofiles = ["web"]\n',
      ].join('\n');
    await p.write(toml(['hello']));
    assert.equal((await p.ferry(['deploy', '--json'])).code, 0);
    const gen = join(p.dir, 'local/profiles/web.d/1');
    await fs.chmod(gen, 0o755);
    await fs.chmod(join(gen, '.generation.json'), 0o644);
    await fs.writeFile(join(gen, '.generation.json'), '{"damaged": tru');
    await p.write(toml(['hello', 'libgreet']));
    const plan = await p.ferry(['plan', '--hosts', 'local']);
    assert.match(plan.stdout, /REMOVES: unknown \(generation 1's manifest cannot be read/);
    const refused = await p.ferry(['deploy']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /E_PLAN_REMOVES/);
    assert.match(refused.stderr, /whatever generation 1 of web has \(its manifest cannot be read\)/);
    assert.equal(readlinkSync(join(p.dir, 'local/profiles/web')), 'web.d/1', 'not switched');
    const yes = await p.ferry(['deploy', '--yes']);
    assert.equal(yes.code, 0, yes.stderr);
    assert.equal(readlinkSync(join(p.dir, 'local/profiles/web')), 'web.d/2');
  });

  test('hostile host names, roots and users are only ever data', async () => {
    const canary = join(sb.dir, 'PWNED');
    const evil = `it's "$(touch ${canary})" \`touch ${canary}\`; touch ${canary} & $HOME`;
    const p = project(sb, 'hostile');
    await fs.mkdir(p.dir, { recursive: true });
    await fs.copyFile(tb.knownHosts, join(p.dir, 'known_hosts'));
    await p.write(
      [
        header,
        '[profiles.web]\npackages = ["hello"]\n',
        hostToml(tb, 'h1', { key: `h1; touch ${canary}`, root: `hostile/${evil}`, check: 'hello' }),
        `[hosts.${JSON.stringify(`local $(touch ${canary})`)}]\npath = ${JSON.stringify(`local/${evil}`)}\nprofiles = ["web"]\ncheck = "hello"\n`,
      ].join('\n'),
    );
    assert.equal((await p.ferry(['lock'])).code, 0);
    const r = await p.ferry(['deploy', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      (json(r) as { hosts: Outcome[] }).hosts.map((o) => o.result),
      ['switched', 'switched'],
    );
    const remote = join(tb.mountDir, 'hostile', evil, 'profiles/web/bin/hello');
    assert.match(await tb.exec('h1', [remote]), /libgreet/);
    assert.ok(existsSync(join(p.dir, 'local', evil, 'profiles/web/bin/hello')));
    assert.equal((await p.ferry(['status'])).code, 0);
    assert.ok(!existsSync(canary), 'no shell ran a word of it');
    assert.equal(
      (await tb.exec('h1', ['sh', '-c', `test -e ${canary} && echo yes || echo no`])).trim(),
      'no',
    );
  });
});

async function fingerprint(pub: string): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  return (
    execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: pub })
      .toString()
      .split(/\s+/)[1] ?? ''
  );
}
