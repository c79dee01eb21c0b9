import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isatty } from 'node:tty';
import { AppError, type Context, type Reporter } from '../core/index.js';
import { NoSandbox, probeSandbox, type Sandbox } from '../platform/index.js';
import { PortsIndex, RecipeCache, type ReadObserver } from '../recipe/index.js';
import { Store } from '../store/index.js';
import { listOption, stringOption, type OptionValues } from './args.js';
import { JsonReporter, PlainReporter, TtyReporter } from './renderers.js';

/**
 * The installed package's own directory (holds ports/ and examples/): the nearest directory above this module
 * with ferry's package.json, so the answer is the same from dist/cli/app.js and from the bundle dist/ferry-core.cjs.
 */
export const packageDir = findPackageDir(dirname(fileURLToPath(import.meta.url)));

function findPackageDir(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'ports'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..');
  }
}

/** What every command gets: context, and lazily the store and the recipe index. */
export class App {
  readonly ctx: Context;
  readonly options: OptionValues;
  readonly json: boolean;
  private storePromise: Promise<Store> | undefined;
  private indexCache: PortsIndex | undefined;
  private recipeCache: RecipeCache | undefined;

  constructor(
    options: OptionValues,
    env: NodeJS.ProcessEnv,
    reporter?: Reporter,
    opts: { bundled?: boolean } = {},
  ) {
    this.options = options;
    this.json = options.json === true;
    const rootDir = resolve(
      stringOption(options, 'root') ?? env.FERRY_ROOT ?? join(homedir(), '.local', 'share', 'ferry'),
    );
    const portsDirs = [
      ...listOption(options, 'ports').map((p) => resolve(p)),
      ...splitPath(env.FERRY_PORTS).map((p) => resolve(p)),
      ...(opts.bundled === false ? [] : [join(packageDir, 'ports')]),
    ];
    this.ctx = {
      reporter: reporter ?? pickReporter(this.json, options.verbose === true, env),
      rootDir,
      portsDirs,
      distfilesDirs: splitPath(env.FERRY_DISTFILES).map((p) => resolve(p)),
      env,
    };
  }

  store(): Promise<Store> {
    this.storePromise ??= Store.open(this.ctx.rootDir);
    return this.storePromise;
  }

  index(extraFirst: readonly string[] = []): PortsIndex {
    if (extraFirst.length > 0) return new PortsIndex([...extraFirst, ...this.ctx.portsDirs]);
    this.indexCache ??= new PortsIndex(this.ctx.portsDirs, { cache: this.recipes() });
    return this.indexCache;
  }

  /** A fresh index of the same trees that tells `observer` of every directory and file before reading it. */
  observedIndex(observer: ReadObserver): PortsIndex {
    return new PortsIndex(this.ctx.portsDirs, { cache: this.recipes(), observer });
  }

  private recipes(): RecipeCache {
    this.recipeCache ??= RecipeCache.load(join(this.ctx.rootDir, 'var', 'cache', 'recipes.json'));
    return this.recipeCache;
  }

  /** After a command: keeps what it parsed for the next one. */
  close(): void {
    this.recipeCache?.save();
  }

  /** The sandbox a build must use: namespaces, or nothing only when the user said so. */
  async sandbox(): Promise<Sandbox> {
    const mode = stringOption(this.options, 'sandbox') ?? 'on';
    if (mode === 'off') return new NoSandbox();
    if (mode !== 'on') throw new AppError('E_USAGE', `--sandbox expects on or off, got "${mode}"`);
    const probe = await probeSandbox(this.ctx.env.FERRY_BWRAP);
    if ('sandbox' in probe) return probe.sandbox;
    throw new AppError('E_SANDBOX_UNAVAILABLE', `cannot sandbox builds: ${probe.reason}`, {
      hint: 'install bubblewrap (apt-get install bubblewrap) or allow user namespaces; or build unconfined with --sandbox=off',
    });
  }
}

function splitPath(v: string | undefined): string[] {
  return (v ?? '').split(':').filter((p) => p.length > 0);
}

/**
 * The reporter for this run, chosen at its first event: whether stderr is a terminal is asked only then, as
 * loading node:tty (with net and streams) costs milliseconds a command that reports nothing need not pay.
 */
function pickReporter(json: boolean, verbose: boolean, env: NodeJS.ProcessEnv): Reporter {
  let chosen: Reporter | undefined;
  const get = (): Reporter => {
    if (chosen !== undefined) return chosen;
    if (json) chosen = new JsonReporter();
    else if (isatty(2) && env.CI === undefined && env.TERM !== 'dumb') chosen = new TtyReporter(verbose);
    else chosen = new PlainReporter(verbose);
    return chosen;
  };
  return {
    info: (text) => {
      get().info(text);
    },
    warn: (code, text) => {
      get().warn(code, text);
    },
    section: (title) => {
      get().section(title);
    },
    start: (activity) => {
      get().start(activity);
    },
    progress: (id, text) => {
      get().progress(id, text);
    },
    finish: (id, outcome, text) => {
      get().finish(id, outcome, text);
    },
  };
}

export function bundledExamplesDir(): string | undefined {
  const dir = join(packageDir, 'examples', 'ports');
  return existsSync(dir) ? dir : undefined;
}

/** File names in explanations: relative to the working directory when that is shorter, as a user typed them. */
export function showFile(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.length < file.length ? rel : file;
}
