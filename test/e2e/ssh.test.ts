/**
 * SshConnection against a real sshd (the testbed): the login's own session answers the first command, then
 * serves requests, one line each, in place of a session per command.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestbed, testbedProblem, type Testbed } from '../helpers/testbed.js';

const problem = testbedProblem();
const skip = problem !== undefined && process.env.CI === undefined ? `testbed: ${problem}` : false;

/** dist/platform, as built from src (the tests import the build, as users run it). */
const platform = (await import(new URL('../../dist/platform/index.js', import.meta.url).href)) as {
  SshConnection: typeof import('../../src/platform/ssh.js').SshConnection;
};
const { SshConnection } = platform;

// Prints its arguments one per line, a line on stderr, and exits with the status its first argument names.
const ECHO = `for a in "$@"; do printf '[%s]\\n' "$a"; done; echo "err $#" >&2; exit "$1"`;
// Would swallow the session's next request if it could read the session's stdin.
const READER = 'cat; echo read';
const SLEEP = 'sleep "$1"';

describe('ssh login session', { skip }, () => {
  let tb: Testbed;

  before(async () => {
    if (problem !== undefined) throw new Error(`CI needs a testbed, which this machine lacks: ${problem}`);
    tb = await startTestbed([{ name: 'h1' }]);
  });

  after(async () => {
    await tb?.stop();
  });

  const open = () =>
    SshConnection.openWith(
      'h1',
      { user: 'root', host: tb.host('h1').ip, port: tb.host('h1').port },
      { configFile: tb.sshConfig, knownHostsFiles: [tb.knownHosts] },
      { script: 'echo "first $1"', args: ['one two'], served: [ECHO, READER, SLEEP] },
    );

  test('served scripts answer in turn with their own output, stderr and status; words stay data', async () => {
    const canary = join(tb.dir, 'PWNED');
    const { conn, first } = await open();
    try {
      assert.equal(first.exitCode, 0);
      assert.equal(first.stdout, 'first one two\n');
      const evil = `it's "$(touch ${canary})" \`touch ${canary}\`; touch ${canary} & $HOME \\ '`;
      const [a, b, c] = await Promise.all([
        conn.run(ECHO, ['0', evil, '']),
        conn.run(ECHO, ['3', 'x']),
        conn.run(READER, []),
      ]);
      assert.deepEqual([a.exitCode, a.stdout, a.stderr], [0, `[0]\n[${evil}]\n[]\n`, 'err 3\n']);
      assert.deepEqual([b.exitCode, b.stdout, b.stderr], [3, '[3]\n[x]\n', 'err 2\n']);
      assert.deepEqual([c.exitCode, c.stdout], [0, 'read\n'], 'a served script reads nothing of the session');
      // A newline cannot ride on a request line: that command gets a session of its own, with the same result.
      const d = await conn.run(ECHO, ['0', 'a\nb']);
      assert.deepEqual([d.exitCode, d.stdout, d.stderr], [0, '[0]\n[a\nb]\n', 'err 2\n']);
      assert.ok(!existsSync(canary), 'no shell ran a word of it');
    } finally {
      await conn.close();
    }
  });

  test('a served script past its time ends the connection; the next command says it was lost', async () => {
    const { conn } = await open();
    try {
      const t0 = performance.now();
      const r = await conn.run(SLEEP, ['30'], { timeoutMs: 500 });
      assert.equal(r.timedOut, true);
      assert.ok(performance.now() - t0 < 10_000);
      await assert.rejects(conn.run(ECHO, ['0']), {
        code: 'E_FLEET_CONNECT',
        message: /connection was lost/,
      });
    } finally {
      await conn.close();
    }
  });
});
