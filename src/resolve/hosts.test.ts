import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifest } from './manifest.js';

const base = '[profiles.web]\npackages = ["hello"]\n';

test('hosts: ssh and path hosts, groups, check; paths relative to the manifest', () => {
  const m = parseManifest(
    `${base}[fleet]\nssh-config = "ssh/config"\n[hosts.web1]\nssh = "app@10.0.0.11:2222"\nroot = "/home/app/ferry"\nprofiles = ["web"]\ngroups = ["eu"]\ncheck = "curl -fsS http://127.0.0.1/"\n[hosts.local]\npath = "hosts/local"\nprofiles = ["web"]\n`,
    '/p/ferry.toml',
  );
  assert.deepEqual(m.hosts[0]?.address, { kind: 'ssh', user: 'app', host: '10.0.0.11', port: 2222 });
  assert.equal(m.hosts[0]?.root, '/home/app/ferry');
  assert.equal(m.hosts[0]?.line, 5);
  assert.deepEqual(m.hosts[1]?.address, { kind: 'path', dir: '/p/hosts/local' });
  assert.equal(m.hosts[1]?.root, '/p/hosts/local');
  assert.equal(m.fleet.sshConfig, '/p/ssh/config');
  assert.equal(m.fleet.knownHosts, '/p/ferry.known_hosts');
});

test('hosts: ssh addresses with IPv6, no user, default port', () => {
  const m = parseManifest(
    `${base}[hosts.a]\nssh = "[::1]:22"\nroot = "/r"\n[hosts.b]\nssh = "box"\nroot = "/r"\n`,
    '/p/ferry.toml',
  );
  assert.deepEqual(m.hosts[0]?.address, { kind: 'ssh', host: '::1', port: 22 });
  assert.deepEqual(m.hosts[1]?.address, { kind: 'ssh', host: 'box' });
});

test('hosts: errors name file, line, field and the fix', () => {
  const bad: [string, RegExp][] = [
    [
      '[hosts.a]\nssh = "-oProxyCommand=evil"\nroot = "/r"\n',
      /ferry\.toml:\d+:\d+: field hosts\.a\.ssh: "-oProxyCommand=evil" is not user@host\[:port\]/,
    ],
    ['[hosts.a]\nssh = "x"\n', /field hosts\.a: needs root = "\/absolute\/path"/],
    ['[hosts.a]\nssh = "x"\nroot = "relative"\n', /field hosts\.a\.root: needs root/],
    ['[hosts.a]\nroot = "/r"\n', /needs exactly one of ssh = .* or path = /],
    ['[hosts.a]\npath = "d"\nroot = "/r"\n', /field hosts\.a\.root: a path host is its own root/],
    [
      '[hosts.a]\npath = "d"\nprofiles = ["db"]\n',
      /ferry\.toml:12:\d+: field hosts\.a\.profiles\.0: no profile "db" in this manifest/,
    ],
    ['[hosts.a]\npath = "d"\ncolour = "red"\n', /field hosts\.a\.colour: unknown field "colour"/],
    ['[hosts.a]\npath = "d"\ncheck-timeout = -1\n', /field hosts\.a\.check-timeout: expected whole seconds/],
    ['[fleet]\nknown = "x"\n', /field fleet\.known: unknown field/],
  ];
  for (const [text, re] of bad)
    assert.throws(
      () => parseManifest(`${base}\n\n\n\n\n\n\n${text}`, '/p/ferry.toml'),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'E_MANIFEST_FIELD');
        assert.match(e.message, re);
        return true;
      },
    );
});
