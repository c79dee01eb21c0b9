export {
  formatDepSpec,
  matchesRequirement,
  parseConditional,
  parseDepSpec,
  type DepSpec,
  type PackageRequirement,
} from './depspec.js';
export { RecipeCache, RECIPE_FORMAT } from './cache.js';
export { locateField, type FieldPath, type Position } from './locate.js';
export { parseRecipe, parseTomlText } from './parse.js';
export {
  checkRecipes,
  PortsIndex,
  type CheckResult,
  type PortsIndexOptions,
  type ReadObserver,
  type RecipeIndex,
} from './ports.js';
export {
  buildSystems,
  conditionHolds,
  defaultOptions,
  type BuildSystem,
  type Conditional,
  type OptionDecl,
  type OptionSet,
  type Recipe,
  type Source,
} from './types.js';
