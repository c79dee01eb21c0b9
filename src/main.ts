#!/usr/bin/env node
import { fromSystemError, isAppError } from './core/index.js';
import { App } from './cli/app.js';
import { parseArgs, usage } from './cli/args.js';
import { COMMANDS } from './cli/commands.js';
import { commandHelp, mainHelp } from './cli/help.js';
import { checkRootMoved } from './cli/maintenance.js';
import { writeErr, writeFd } from './cli/output.js';

const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function findCommand(words: readonly string[]) {
  return COMMANDS.find((c) => c.words.length === words.length && c.words.every((w, i) => w === words[i]));
}

async function main(argv: readonly string[]): Promise<number> {
  const isPrefix = (words: readonly string[]) =>
    COMMANDS.some((c) => words.length <= c.words.length && words.every((w, i) => c.words[i] === w));
  // Before the command word, any command's options are recognised (so `ferry --manifest F deploy` reads F as
  // the value); the command's own list decides, once known, what is allowed. No name is a flag in one command
  // and takes a value in another (a unit test checks).
  const parsed = parseArgs(argv, isPrefix, (words) =>
    words.length === 0 ? COMMANDS.flatMap((c) => c.options) : (findCommand(words)?.options ?? []),
  );
  const cmd = findCommand(parsed.command);
  if (parsed.options.help === true || parsed.command.length === 0) {
    if (parsed.command.length === 0 && parsed.positionals.length > 0)
      throw usage(`unknown command "${parsed.positionals[0] ?? ''}"`);
    writeFd(1, `${cmd === undefined ? mainHelp() : commandHelp(cmd)}\n`);
    return EXIT.ok;
  }
  if (cmd === undefined) throw usage(`unknown command "${parsed.command.join(' ')}"`);
  const app = new App(parsed.options, process.env);
  await checkRootMoved(app);
  const outcome = await cmd.run(app, parsed.positionals, parsed.rest).finally(() => {
    app.close();
  });
  if (app.json) writeFd(1, `${JSON.stringify(outcome.data, null, 2)}\n`);
  else if (outcome.text.length > 0) writeFd(1, `${outcome.text.join('\n')}\n`);
  return outcome.exitCode;
}

function report(thrown: unknown, json: boolean): number {
  const e = fromSystemError(thrown);
  if (!isAppError(e)) {
    writeErr(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.failure;
  }
  if (json) {
    writeFd(
      1,
      `${JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint, ...e.details } }, null, 2)}\n`,
    );
  } else {
    writeErr(`error [${e.code}]: ${e.message}\n`);
    if (e.hint !== undefined) writeErr(`  hint: ${e.hint}\n`);
  }
  return e.code === 'E_USAGE' ? EXIT.usage : EXIT.failure;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = report(e, argv.includes('--json'));
  },
);
