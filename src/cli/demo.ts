import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../core/index.js';
import { App, bundledExamplesDir } from './app.js';
import type { Outcome } from './commands.js';
import { rollbackCommand, switchToGeneration } from './generations.js';
import { changeProfile, installEdit } from './install.js';
import { listOption } from './args.js';
import { renderDiff } from './commands.js';

// Made on use: node:child_process loads on first use in the bundle, and most commands never start a process.
function run(file: string, args: readonly string[], opts: { timeout?: number } = {}) {
  return promisify(execFile)(file, args, opts);
}

interface LoadResult {
  starts: number;
  failures: number;
  firstFailure?: string;
}

/** Start the program over and over until `stop` resolves; count the starts that failed. */
async function keepStarting(program: string, stop: Promise<unknown>): Promise<LoadResult> {
  const result: LoadResult = { starts: 0, failures: 0 };
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  while (!done) {
    result.starts++;
    try {
      await run(program, [], { timeout: 10_000 });
    } catch (e) {
      result.failures++;
      result.firstFailure ??= (e as Error).message.split('\n')[0] ?? '';
    }
  }
  return result;
}

async function greet(program: string): Promise<string> {
  return (await run(program, [])).stdout.trim();
}

/**
 * The README's first command: build v1 of a program and its library, install it, upgrade both to v2 while
 * the program is started again and again (no start may fail), show the diff, roll back.
 */
export async function demoCommand(base: App): Promise<Outcome> {
  const examples = bundledExamplesDir();
  if (examples === undefined)
    throw new AppError('E_RECIPE_NOT_FOUND', 'the bundled examples/ports tree is missing');
  const app = new App(
    { ...base.options, ports: [examples, ...listOption(base.options, 'ports')], profile: 'demo' },
    process.env,
    base.ctx.reporter,
  );
  const say = (s: string) => {
    app.ctx.reporter.info(s);
  };
  const program = join(app.ctx.rootDir, 'profiles', 'demo', 'bin', 'hello');
  say(`ferry demo in ${app.ctx.rootDir} (profile "demo")`);
  const t0 = Date.now();
  const v1 = await changeProfile(app, installEdit(['hello < 2', 'libgreet < 2']));
  failIfBuildFailed(v1.build.failures);
  const v1Out = await greet(program);
  say(`1. built and installed hello 1.0 + libgreet 1.0 in ${secs(t0)}: ${v1Out}`);
  let finishUpgrade: () => void = () => undefined;
  const upgraded = new Promise<void>((resolve) => {
    finishUpgrade = resolve;
  });
  const load = keepStarting(program, upgraded);
  const t1 = Date.now();
  const v2 = await changeProfile(app, installEdit(['hello', 'libgreet'])).finally(() =>
    setTimeout(finishUpgrade, 300),
  );
  const loadResult = await load;
  failIfBuildFailed(v2.build.failures);
  const v2Out = await greet(program);
  say(
    `2. upgraded to hello 2.0 + libgreet 2.0 in ${secs(t1)} while starting hello ${loadResult.starts} times: ${loadResult.failures} failed starts`,
  );
  say(`   now: ${v2Out}`);
  say(`3. ferry diff ${v2.from ?? '?'} ${v2.to ?? '?'}:`);
  for (const line of renderDiff(v2.diff)) say(`   ${line}`);
  // Back to the generation the upgrade started from. `rollback` goes to the next lower number, which on a
  // second run is the first run's upgrade, not this run's starting point.
  const back = v2.from === undefined ? await rollbackCommand(app) : await switchToGeneration(app, v2.from);
  const backOut = await greet(program);
  say(`4. rolled back to generation ${back.to}: ${backOut}`);
  say(`Try it yourself: ${program}, ferry --root ${app.ctx.rootDir} generations --profile demo`);
  const ok = loadResult.failures === 0 && backOut === v1Out;
  return {
    data: {
      root: app.ctx.rootDir,
      v1: v1Out,
      v2: v2Out,
      rolledBack: backOut,
      load: loadResult,
      diff: v2.diff,
      generations: { v1: v1.to, v2: v2.to, rollback: back.to },
    },
    text: [
      `demo ${ok ? 'passed' : 'FAILED'}: ${loadResult.starts} starts during the upgrade, ${loadResult.failures} failed`,
    ],
    exitCode: ok ? 0 : 1,
  };
}

function failIfBuildFailed(
  failures: readonly { key: string; code: string; message: string; hint?: string }[],
): void {
  const f = failures[0];
  if (f !== undefined)
    throw new AppError(
      f.code as 'E_BUILD_FAILED',
      `${f.key}: ${f.message}`,
      f.hint === undefined ? {} : { hint: f.hint },
    );
}

function secs(t: number): string {
  return `${((Date.now() - t) / 1000).toFixed(1)}s`;
}
