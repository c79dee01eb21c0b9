import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from './args.js';
import { COMMANDS } from './commands.js';

test('no option name is a flag in one command and takes a value in another', () => {
  const takesValue = new Map<string, boolean>();
  for (const c of COMMANDS)
    for (const o of c.options)
      for (const key of [o.name, o.short].filter((k): k is string => k !== undefined)) {
        const before = takesValue.get(key);
        assert.ok(
          before === undefined || before === (o.value !== undefined),
          `--${key} of ferry ${c.words.join(' ')}`,
        );
        takesValue.set(key, o.value !== undefined);
      }
});

test('a command option before the command word takes its value; the command decides if it is allowed', () => {
  const find = (w: readonly string[]) =>
    COMMANDS.find((c) => c.words.length === w.length && c.words.every((x, i) => x === w[i]));
  const isPrefix = (w: readonly string[]) =>
    COMMANDS.some((c) => w.length <= c.words.length && w.every((x, i) => c.words[i] === x));
  const specs = (w: readonly string[]) =>
    w.length === 0 ? COMMANDS.flatMap((c) => c.options) : (find(w)?.options ?? []);
  const p = parseArgs(['--manifest', 'app/ferry.toml', 'deploy', 'web1'], isPrefix, specs);
  assert.deepEqual(p.command, ['deploy']);
  assert.deepEqual(p.positionals, ['web1']);
  assert.equal(p.options.manifest, 'app/ferry.toml');
  assert.throws(
    () => parseArgs(['--manifest', 'f', 'generations'], isPrefix, specs),
    /unknown option --manifest for "ferry generations"/,
  );
});
