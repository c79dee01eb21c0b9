import { mkdir } from 'node:fs/promises';
import { AppError } from '../core/index.js';
import { readTextIfExists, writeFileAtomic } from '../platform/index.js';
import { checkRecipes } from '../recipe/index.js';
import { cleanProfileLeftovers, collectGarbage } from '../profile/index.js';
import { relocateStore } from '../store/index.js';
import type { App } from './app.js';
import { intOption } from './args.js';

export async function verifyCommand(app: App) {
  const store = await app.store();
  const leftovers = [...(await store.cleanLeftovers()), ...(await cleanProfileLeftovers(app.ctx.rootDir))];
  const { checked, problems } = await store.verify();
  return { checked, problems, cleaned: leftovers };
}

export async function gcCommand(app: App) {
  const store = await app.store();
  return collectGarbage(store, intOption(app.options, 'keep', 3), app.options['dry-run'] === true);
}

export async function relocateCommand(app: App) {
  const store = await app.store();
  const result = await relocateStore(store, app.ctx.rootDir);
  await writeFileAtomic(`${app.ctx.rootDir}/var/root-path`, `${app.ctx.rootDir}\n`);
  return { root: app.ctx.rootDir, ...result };
}

/** Warn when the root was moved and embedded paths still name the old place. */
export async function checkRootMoved(app: App): Promise<void> {
  const file = `${app.ctx.rootDir}/var/root-path`;
  const recorded = (await readTextIfExists(file))?.trim();
  if (recorded === undefined) {
    await mkdir(`${app.ctx.rootDir}/var`, { recursive: true });
    await writeFileAtomic(file, `${app.ctx.rootDir}\n`);
    return;
  }
  if (recorded !== app.ctx.rootDir)
    app.ctx.reporter.warn(
      undefined,
      `this root was moved from ${recorded}; run \`ferry relocate\` to update paths embedded in text files`,
    );
}

export function recipeCheckCommand(app: App, args: readonly string[]) {
  const paths = args.length > 0 ? args : app.ctx.portsDirs;
  const result = checkRecipes(paths);
  if (result.checked === 0 && result.errors.length === 0)
    throw new AppError('E_USAGE', `no recipes found under ${paths.join(', ')}`, {
      hint: 'a recipe is <tree>/<name>/<version>.toml',
    });
  return result;
}
