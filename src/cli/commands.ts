import { formatVersion } from '../version/index.js';
import type { GenerationDiff } from '../profile/index.js';
import type { OptionSpec } from './args.js';
import type { App } from './app.js';
import {
  cacheInfoCommand,
  cachePushCommand,
  cacheServeCommand,
  exportCommand,
  keysGenerateCommand,
  keysListCommand,
  keysTrustCommand,
  packCommand,
  unpackCommand,
} from './binary.js';
import { AUDIT_COMMANDS } from './audit-commands.js';
import { FLEET_COMMANDS, fleetPlanCommand, hostSelection, rollbackHostsCommand } from './fleet-commands.js';
import { demoCommand } from './demo.js';
import {
  diffCommand,
  generationsCommand,
  rollbackCommand,
  runCommand,
  switchCommand,
} from './generations.js';
import {
  buildCommand,
  changeProfile,
  installEdit,
  removeEdit,
  summarise,
  type BuildResult,
  type ChangeResult,
} from './install.js';
import { renderPlan, type ProfilePlan } from './plan.js';
import {
  applyManifestProfile,
  buildManifestProfile,
  lockCommand,
  planCommand,
  updateCommand,
  whyCommand,
} from './project-commands.js';
import { gcCommand, recipeCheckCommand, relocateCommand, verifyCommand } from './maintenance.js';
import { MANIFEST_OPTION, stringOption } from './args.js';

/** What a command hands back: data for --json, lines for people, and the exit status. */
export interface Outcome {
  readonly data: unknown;
  readonly text: readonly string[];
  readonly exitCode: number;
}

export interface CommandSpec {
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  readonly description: string;
  readonly options: readonly OptionSpec[];
  readonly run: (app: App, args: readonly string[], rest: readonly string[]) => Promise<Outcome>;
}

const PROFILE: OptionSpec = {
  name: 'profile',
  value: 'P',
  help: 'the profile to act on (default: "default")',
};
const MANIFEST = MANIFEST_OPTION;
const HOSTS: OptionSpec = {
  name: 'hosts',
  value: 'HOST|GROUP[,…]',
  repeatable: true,
  help: 'act on these hosts of ferry.toml (names or groups; "all" for every host)',
};
const ALLOW_UNTRUSTED: OptionSpec = {
  name: 'allow-untrusted',
  help: 'accept unsigned packages and unknown signers (a signature that does not verify is still refused)',
};
const KEY: OptionSpec = {
  name: 'key',
  value: 'NAME',
  help: 'the signing key (default: the only one in <root>/etc/keys)',
};
const YES: OptionSpec = { name: 'yes', short: 'y', help: 'do not ask before removing packages' };
const BUILD_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'jobs',
    short: 'j',
    value: 'N',
    help: 'independent builds to run at once (default: number of cores)',
  },
  { name: 'keep-going', help: 'after a failed build, go on with everything that does not depend on it' },
  {
    name: 'sandbox',
    value: 'on|off',
    help: 'off builds without namespaces (only where they are unavailable)',
  },
  { name: 'offline', help: 'never download; sources must be in a distfiles directory' },
  {
    name: 'substituter',
    value: 'URL',
    repeatable: true,
    help: 'a binary cache to try before building (file:///dir, /dir or http(s)://…; repeatable; also FERRY_SUBSTITUTERS and <root>/etc/config.toml)',
  },
  { name: 'no-substitute', help: 'build everything here; ask no binary cache' },
  { name: 'no-build', help: 'install only from binary caches; fail if anything would have to be built' },
  ALLOW_UNTRUSTED,
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    words: ['install'],
    usage: 'ferry install [--profile P] SPEC…   |   ferry install --profile P   (from ferry.toml)',
    summary: 'build packages and add them to a profile (new generation, atomic switch)',
    description:
      'SPEC is a package name or a dependency string: "nginx", "hello < 2", "python:3.11". Missing store paths are built in the sandbox; then a new generation is made and switched to with one rename. Without SPECs, makes profile P what ferry.toml (and ferry.lock) say, like `ferry switch --profile P`.',
    options: [PROFILE, MANIFEST, YES, ...BUILD_OPTIONS],
    run: async (app, args) =>
      args.length === 0
        ? manifestOutcome(await applyManifestProfile(app))
        : changeOutcome(await changeProfile(app, installEdit(args))),
  },
  {
    words: ['remove'],
    usage: 'ferry remove [--profile P] NAME…',
    summary: 'remove packages from a profile (new generation)',
    description: 'Store paths stay until `ferry gc`; `ferry rollback` brings the package back instantly.',
    options: [PROFILE, ...BUILD_OPTIONS],
    run: async (app, args) =>
      changeOutcome(
        await changeProfile(app, removeEdit(args, stringOption(app.options, 'profile') ?? 'default')),
      ),
  },
  {
    words: ['build'],
    usage: 'ferry build SPEC…   |   ferry build --profile P   (from ferry.toml)',
    summary: 'build packages into the store without touching any profile',
    description:
      'Prints the store path of every package built or already present. Without SPECs, builds what ferry.lock says for profile P.',
    options: [PROFILE, MANIFEST, ...BUILD_OPTIONS],
    run: async (app, args) => {
      if (args.length > 0) return buildOutcome(await buildCommand(app, args));
      const { plan, report, store } = await buildManifestProfile(app);
      return buildOutcome(summarise(plan, report, store.storeDir));
    },
  },
  {
    words: ['generations'],
    usage: 'ferry generations [--profile P]',
    summary: "list a profile's generations",
    description: 'The current one is marked with *.',
    options: [PROFILE],
    run: async (app) => {
      const r = await generationsCommand(app);
      const text = r.generations.map((g) => {
        const pkgs = g.manifest.packages.filter((p) => p.requested).map((p) => `${p.name}-${p.version}`);
        return `${g.current ? '*' : ' '} ${String(g.number).padStart(3)}  ${g.manifest.createdAt.slice(0, 19).replace('T', ' ')}  ${pkgs.join(' ')}`;
      });
      return {
        data: r,
        text: text.length > 0 ? text : [`profile ${r.profile} has no generations yet`],
        exitCode: 0,
      };
    },
  },
  {
    words: ['rollback'],
    usage: 'ferry rollback [--profile P]   |   ferry rollback --hosts HOST|GROUP[,…]',
    summary: 'switch back to the previous generation (here, or on hosts)',
    description:
      'Atomic: one symlink rename. Newer generations are kept; `ferry switch --to N` goes forward again. With --hosts, every profile of each named host (from ferry.toml) goes back one generation; "all" names every host.',
    options: [PROFILE, HOSTS, MANIFEST],
    run: async (app) =>
      hostSelection(app).length > 0 ? rollbackHostsCommand(app) : switchOutcome(await rollbackCommand(app)),
  },
  {
    words: ['switch'],
    usage: 'ferry switch --to N [--profile P]   |   ferry switch --profile P [--yes]   (from ferry.toml)',
    summary: 'switch a profile to generation N, or to what ferry.toml and ferry.lock say',
    description:
      'With --to: one symlink rename to an existing generation. Without: builds the locked packages of manifest profile P and switches to a new generation; if anything would be REMOVED it asks first (or needs --yes). See `ferry plan` first.',
    options: [
      PROFILE,
      MANIFEST,
      YES,
      { name: 'to', value: 'N', help: 'the generation number' },
      ...BUILD_OPTIONS,
    ],
    run: async (app) =>
      app.options.to === undefined
        ? manifestOutcome(await applyManifestProfile(app))
        : switchOutcome(await switchCommand(app)),
  },
  {
    words: ['diff'],
    usage: 'ferry diff [A] [B] [--profile P]',
    summary: 'what changed between two generations (default: previous and current)',
    description: 'Lists added, removed, upgraded, downgraded and rebuilt packages.',
    options: [PROFILE],
    run: async (app, args) => {
      const r = await diffCommand(app, args);
      return { data: r, text: [`generation ${r.from} → ${r.to}:`, ...renderDiff(r.diff)], exitCode: 0 };
    },
  },
  {
    words: ['run'],
    usage: 'ferry run [--profile P] [--generation N] -- CMD…',
    summary: 'run a command inside a generation without switching to it',
    description:
      "Try an upgrade side by side before it touches production: CMD runs with the generation's bin/ first on PATH.",
    options: [PROFILE, { name: 'generation', value: 'N', help: 'the generation (default: current)' }],
    run: async (app, _args, rest) => ({ data: null, text: [], exitCode: await runCommand(app, rest) }),
  },
  {
    words: ['lock'],
    usage: 'ferry lock [--manifest FILE]',
    summary: 'resolve every profile of ferry.toml and write ferry.lock',
    description:
      'Keeps locked versions that still fit; the file is deterministic (same inputs, same bytes) and sorted.',
    options: [MANIFEST],
    run: async (app) => lockOutcome(await lockCommand(app)),
  },
  {
    words: ['update'],
    usage: 'ferry update [NAME…] [--manifest FILE]',
    summary: 're-resolve all packages, or only the named ones, and rewrite ferry.lock',
    description: 'Everything not named stays as locked.',
    options: [MANIFEST],
    run: async (app, args) => lockOutcome(await updateCommand(app, args)),
  },
  {
    words: ['plan'],
    usage: 'ferry plan [--profile P] [--manifest FILE]   |   ferry plan --hosts HOST|GROUP[,…]',
    summary: 'show what the next switch would do: added, upgraded, downgraded, rebuilt, REMOVED',
    description:
      'Each change comes with its reason; nothing is built or changed. With --hosts ("all" for every host): the store paths to build or substitute here, and per host what it will receive and what each profile gains and loses (REMOVED).',
    options: [
      PROFILE,
      MANIFEST,
      HOSTS,
      { name: 'parallel', value: 'N', help: 'hosts asked at once (default 8)' },
    ],
    run: async (app) => {
      if (hostSelection(app).length > 0) return fleetPlanCommand(app);
      const p = await planCommand(app);
      return { data: p, text: renderPlan(p), exitCode: 0 };
    },
  },
  {
    words: ['why'],
    usage: 'ferry why NAME [--profile P] [--manifest FILE]',
    summary: 'show the chains of requirements that pull NAME into a profile',
    description: 'Each chain starts at the manifest line that requests it.',
    options: [PROFILE, MANIFEST],
    run: async (app, args) => {
      const r = await whyCommand(app, args);
      return { data: { profile: r.profile, target: r.target, chains: r.chains }, text: r.text, exitCode: 0 };
    },
  },
  {
    words: ['gc'],
    usage: 'ferry gc [--keep N] [--dry-run]',
    summary: 'delete old generations and the store paths nothing needs',
    description: 'Keeps the newest N generations of every profile (default 3) and always the current one.',
    options: [
      { name: 'keep', value: 'N', help: 'generations to keep per profile (default 3)' },
      { name: 'dry-run', help: 'only say what would be deleted' },
    ],
    run: async (app) => {
      const r = await gcCommand(app);
      const verb = app.options['dry-run'] === true ? 'would delete' : 'deleted';
      return {
        data: r,
        text: [
          `${verb} ${r.generationsRemoved.length} generation(s) and ${r.pathsRemoved.length} store path(s); ${r.pathsKept} kept`,
          ...r.pathsRemoved.map((p) => `  ${p}`),
        ],
        exitCode: 0,
      };
    },
  },
  {
    words: ['verify'],
    usage: 'ferry verify',
    summary: 're-hash the store against recorded hashes',
    description:
      'Reports every modified, missing or unexpected file; exit status 1 if any. Also clears leftovers of interrupted work.',
    options: [],
    run: async (app) => {
      const r = await verifyCommand(app);
      const text = [
        ...r.problems.map(
          (p) =>
            `${p.id}: ${p.kind}${p.file === undefined ? '' : ` ${p.file}`}${p.detail === undefined ? '' : ` (${p.detail})`}`,
        ),
        `${r.checked} store path(s) checked, ${r.problems.length} problem(s)${r.cleaned.length > 0 ? `, ${r.cleaned.length} leftover(s) of interrupted work removed` : ''}`,
      ];
      return { data: r, text, exitCode: r.problems.length > 0 ? 1 : 0 };
    },
  },
  {
    words: ['relocate'],
    usage: 'ferry relocate',
    summary: 'after moving the root, rewrite the old root path where files embed it',
    description:
      'Run paths are $ORIGIN-relative and profile links are relative, so programs run after a move; this fixes text files (and binaries, when the new path is not longer) that embed the root.',
    options: [],
    run: async (app) => {
      const r = await relocateCommand(app);
      return {
        data: r,
        text: [`relocated ${r.files} file(s) in ${r.paths} store path(s) to ${r.root}`],
        exitCode: 0,
      };
    },
  },
  {
    words: ['recipe', 'check'],
    usage: 'ferry recipe check [PATH…]',
    summary: 'validate recipes (trees or single .toml files; default: every ports tree)',
    description: 'Every error names file:line:column, the field and what is expected.',
    options: [],
    run: async (app, args) => {
      const r = recipeCheckCommand(app, args);
      const text = [
        ...r.errors.map((e) => `${e.message}${e.hint === undefined ? '' : `\n  hint: ${e.hint}`}`),
        `${r.checked} recipe(s) checked, ${r.errors.length} error(s)`,
      ];
      const data = {
        checked: r.checked,
        errors: r.errors.map((e) => ({ code: e.code, message: e.message, hint: e.hint, ...e.details })),
      };
      return Promise.resolve({ data, text, exitCode: r.errors.length > 0 ? 1 : 0 });
    },
  },
  {
    words: ['keys', 'generate'],
    usage: 'ferry keys generate NAME',
    summary: 'make an ed25519 signing key pair (and trust it on this root)',
    description:
      'Writes <root>/etc/keys/NAME.secret (mode 600) and NAME.public, and prints the public key line NAME:BASE64. Give that line to the machines that should install what this one signs: `ferry keys trust NAME:BASE64`.',
    options: [],
    run: async (app, args) => {
      const r = await keysGenerateCommand(app, args);
      return { data: r, text: [r.publicKey, `secret key: ${r.secretFile} (keep it private)`], exitCode: 0 };
    },
  },
  {
    words: ['keys', 'trust'],
    usage: 'ferry keys trust NAME:BASE64|FILE.public…',
    summary: 'trust packages and cache indexes signed by a key',
    description:
      'Writes <root>/etc/trusted-keys/NAME.public. Keys can also be listed in <root>/etc/config.toml as trusted-keys = [...].',
    options: [],
    run: async (app, args) => {
      const r = await keysTrustCommand(app, args);
      return { data: r, text: r.trusted.map((t) => `trusting ${t.name} (${t.file})`), exitCode: 0 };
    },
  },
  {
    words: ['keys', 'list'],
    usage: 'ferry keys list',
    summary: 'show signing keys and trusted keys',
    description: '',
    options: [],
    run: async (app) => {
      const r = await keysListCommand(app);
      const text = [...r.signing.map((n) => `signing: ${n}`), ...r.trusted.map((k) => `trusted: ${k}`)];
      return { data: r, text: text.length > 0 ? text : ['no keys: ferry keys generate NAME'], exitCode: 0 };
    },
  },
  {
    words: ['pack'],
    usage: 'ferry pack STOREPATH|NAME… [-o DIR] [--key NAME]',
    summary: 'make signed binary packages of store paths',
    description:
      "For each store path writes DIR/<store path>.tar.gz (the files), <store path>.json (manifest: name, version, options, references, platform, minimum glibc, every file's sha256, the files that embed the root's path) and <store path>.json.sig (ed25519 signature of the manifest). NAME picks the package of that name in the profile.",
    options: [
      { name: 'output', short: 'o', value: 'DIR', help: 'where to write (default: .)' },
      KEY,
      PROFILE,
    ],
    run: async (app, args) => {
      const r = await packCommand(app, args);
      return {
        data: r,
        text: r.packed.map((p) => `${p.manifest} (${p.archiveSize} bytes, signed by ${r.signedBy})`),
        exitCode: 0,
      };
    },
  },
  {
    words: ['unpack'],
    usage: 'ferry unpack DIR/<store path>.json…',
    summary: 'verify binary packages and add them to the store',
    description:
      "Checks the signature against the trusted keys, the platform (arch, glibc), the archive's and every file's hash, moves embedded root paths to this root, then registers the store path atomically. Dependencies must be in the store first.",
    options: [ALLOW_UNTRUSTED],
    run: async (app, args) => {
      const r = await unpackCommand(app, args);
      return {
        data: r,
        text: r.unpacked.map((u) => `${u.installed ? 'added' : 'present'} ${u.storePath}`),
        exitCode: 0,
      };
    },
  },
  {
    words: ['cache', 'push'],
    usage: 'ferry cache push DIR [NAME…|--profile P] [--key NAME] [--valid-days N]',
    summary: 'publish store paths (with their closure) to a binary cache directory',
    description:
      "Packs what the cache lacks into DIR/pkg/ and re-signs DIR/index.json with a higher version and a new expiry. Serve DIR with any static web server, or `ferry cache serve DIR`. Without NAMEs, pushes the profile's current generation.",
    options: [
      PROFILE,
      KEY,
      {
        name: 'valid-days',
        value: 'N',
        help: 'days until the index expires and clients refuse it (default 30; at most 36500; 0 withdraws the cache)',
      },
    ],
    run: async (app, args) => {
      const r = await cachePushCommand(app, args);
      const text = [
        `${r.cache}: packed ${r.packed.length}, already there ${r.present.length}; index version ${r.version}, expires ${r.expires}, signed by ${r.signedBy}`,
      ];
      return { data: r, text, exitCode: 0 };
    },
  },
  {
    words: ['cache', 'info'],
    usage: 'ferry cache info URL',
    summary: "check a cache's signed index: signer, version, expiry, size",
    description: 'Fails as an install would: untrusted signer, older index than seen before, or expired.',
    options: [ALLOW_UNTRUSTED],
    run: async (app, args) => {
      const r = await cacheInfoCommand(app, args);
      const text = [
        `${r.url}: ${r.packages} package(s), index version ${r.version}, expires ${r.expires}, signed by ${r.signedBy ?? 'nobody trusted'}`,
      ];
      return { data: r, text, exitCode: 0 };
    },
  },
  {
    words: ['cache', 'serve'],
    usage: 'ferry cache serve DIR [--port N] [--host ADDR]',
    summary: 'serve a cache directory over HTTP (static, read-only, with Range)',
    description:
      'Runs until interrupted. Any static web server serving DIR works the same. Serves files inside DIR only (no `..`, no symbolic link leading out, no hidden files, no listings); closes connections idle for 60 s.',
    options: [
      { name: 'port', value: 'N', help: 'TCP port (default 8080; 0 picks a free one)' },
      { name: 'host', value: 'ADDR', help: 'address to listen on (default 127.0.0.1)' },
    ],
    run: async (app, args) => {
      const r = await cacheServeCommand(app, args);
      return { data: r, text: [], exitCode: 0 };
    },
  },
  {
    words: ['export'],
    usage: 'ferry export --profile P -o app.tar.gz',
    summary: "one self-contained, relocatable tarball of a profile's closure",
    description:
      'Extract it anywhere and run its ./activate (POSIX sh; or `ferry relocate --root DIR`); programs are then in DIR/bin. Holds the current generation and every store path it needs, with relative links and $ORIGIN run paths.',
    options: [PROFILE, { name: 'output', short: 'o', value: 'FILE', help: 'the tarball to write (.tar.gz)' }],
    run: async (app) => {
      const r = await exportCommand(app);
      const text = [
        `${r.output}: profile ${r.profile} generation ${r.generation}, ${r.storePaths} store path(s), ${r.entries} entries`,
      ];
      return { data: r, text, exitCode: 0 };
    },
  },
  ...AUDIT_COMMANDS,
  ...FLEET_COMMANDS,
  {
    words: ['demo'],
    usage: 'ferry demo',
    summary: 'build, install, upgrade under load, diff and roll back the bundled example',
    description: 'Needs no network and no configuration. Uses the profile "demo" in the root.',
    options: [{ name: 'sandbox', value: 'on|off', help: 'off builds without namespaces' }],
    run: (app) => demoCommand(app),
  },
];

export function renderDiff(d: GenerationDiff): string[] {
  const lines: string[] = [];
  const v = (s: string | undefined) => (s === undefined ? '' : formatVersion(s as never));
  for (const c of d.added) lines.push(`  + ${c.name} ${v(c.to)}`);
  for (const c of d.removed) lines.push(`  - ${c.name} ${v(c.from)}   REMOVED`);
  for (const c of d.upgraded) lines.push(`  ↑ ${c.name} ${v(c.from)} → ${v(c.to)}`);
  for (const c of d.downgraded) lines.push(`  ↓ ${c.name} ${v(c.from)} → ${v(c.to)}`);
  for (const c of d.rebuilt) lines.push(`  ~ ${c.name} ${v(c.to)} (rebuilt: inputs changed)`);
  return lines.length > 0 ? lines : ['  (no package changes)'];
}

function buildLines(b: BuildResult): string[] {
  const lines = b.built.map((x) => `${x.status === 'built' ? 'built  ' : 'present'} ${x.storePath}`);
  for (const f of b.failures)
    lines.push(
      `FAILED ${f.key} [${f.code}]: ${f.message}${f.hint === undefined ? '' : `\n  hint: ${f.hint}`}`,
    );
  return lines;
}

function buildOutcome(b: BuildResult): Outcome {
  const ok = b.failures.length === 0;
  const someRequested = b.built.some((x) => b.requested.includes(x.key));
  return { data: b, text: buildLines(b), exitCode: ok ? 0 : someRequested ? 3 : 1 };
}

function changeOutcome(r: ChangeResult): Outcome {
  const failures = r.build.failures.length > 0;
  const text = failures
    ? [
        ...buildLines({ requested: [], built: [], failures: r.build.failures }),
        `profile ${r.profile} unchanged (generation ${r.from ?? 'none'})`,
      ]
    : r.changed
      ? [`profile ${r.profile}: generation ${r.from ?? 'none'} → ${r.to}`, ...renderDiff(r.diff)]
      : [`profile ${r.profile}: nothing to do (generation ${r.to ?? 'none'})`];
  return { data: r, text, exitCode: failures ? 1 : 0 };
}

function lockOutcome(r: {
  lockFile: string;
  profiles: readonly { profile: string; changes: readonly string[] }[];
}): Outcome {
  const text = [`wrote ${r.lockFile}`];
  for (const p of r.profiles) {
    text.push(
      `profile ${p.profile}: ${p.changes.length === 0 ? 'unchanged' : `${p.changes.length} change(s)`}`,
    );
    for (const c of p.changes) text.push(`  ${c}`);
  }
  return { data: r, text, exitCode: 0 };
}

function manifestOutcome(r: { plan: ProfilePlan; change: ChangeResult }): Outcome {
  const o = changeOutcome(r.change);
  return { data: r, text: [...renderPlan(r.plan).slice(0, -1), ...o.text], exitCode: o.exitCode };
}

function switchOutcome(r: {
  profile: string;
  from: number | undefined;
  to: number;
  diff: GenerationDiff;
}): Outcome {
  return {
    data: r,
    text: [`profile ${r.profile}: generation ${r.from ?? 'none'} → ${r.to}`, ...renderDiff(r.diff)],
    exitCode: 0,
  };
}
