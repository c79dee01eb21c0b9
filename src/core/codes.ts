/**
 * Every user-reachable failure has a stable code. A code is never reused; each is explained in docs/errors.md.
 */
export const codes = {
  E_USAGE: 'bad command line',
  E_RECIPE_SYNTAX: 'recipe is not valid TOML',
  E_RECIPE_FIELD: 'recipe field has a wrong value',
  E_RECIPE_NOT_FOUND: 'no recipe for a requested package',
  E_DEPSPEC_SYNTAX: 'dependency string cannot be parsed',
  E_VERSION_SYNTAX: 'version string cannot be parsed',
  E_RESOLVE_CONFLICT: 'requests cannot be satisfied together',
  E_RESOLVE_CYCLE: 'dependency cycle between recipes',
  E_FETCH_HASH: 'source does not match its pinned sha256',
  E_FETCH_FAILED: 'source could not be downloaded',
  E_FETCH_OFFLINE: 'source is missing from every distfiles directory',
  E_FETCH_PATH: 'local source path is missing or escapes the recipe directory',
  E_SANDBOX_UNAVAILABLE: 'Linux namespaces cannot be used to sandbox builds',
  E_BUILD_FAILED: 'a build command exited non-zero',
  E_BUILD_DEPFAILED: 'a dependency failed to build',
  E_BUILD_UNDECLARED_LIB: 'a built ELF file needs a library that is not declared',
  E_BUILD_LEAKS_BUILDDIR: 'an output file contains the build directory path',
  E_STORE_LOCKED: 'another ferry process holds a lock too long',
  E_STORE_CORRUPT: 'store contents differ from their recorded hashes',
  E_STORE_PATH: 'a store path name is malformed or unknown',
  E_STORE_FORMAT: 'a metadata file has a newer formatVersion than this ferry understands',
  E_PROFILE_COLLISION: 'two packages in one profile provide the same file',
  E_PROFILE_GENERATION: 'a generation does not exist',
  E_PROFILE_NOT_INSTALLED: 'the package to remove is not in the profile',
  E_RELOCATE: 'a store file cannot be relocated to the new root',
  E_RUN_FAILED: 'a command run inside a generation failed to start',
} as const;

export type Code = keyof typeof codes;
