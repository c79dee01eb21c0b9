import { AppError } from '../core/index.js';

export interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  /** Placeholder for the value (`DIR`, `N`); absent for a flag. */
  readonly value?: string;
  readonly repeatable?: boolean;
  readonly help: string;
}

export type OptionValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

export interface ParsedArgs {
  readonly command: readonly string[];
  readonly positionals: readonly string[];
  readonly options: OptionValues;
  /** Everything after `--`, untouched (for `ferry run -- CMD…`). */
  readonly rest: readonly string[];
}

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'root',
    value: 'DIR',
    help: 'ferry root (store, profiles, distfiles); default $FERRY_ROOT or ~/.local/share/ferry',
  },
  {
    name: 'ports',
    value: 'DIR',
    repeatable: true,
    help: 'a ports tree searched before the bundled one (repeatable; also FERRY_PORTS)',
  },
  { name: 'json', help: 'print the result as one JSON document on stdout, events as NDJSON on stderr' },
  { name: 'verbose', short: 'v', help: 'show build output and more detail' },
  { name: 'help', short: 'h', help: 'show help' },
];

/** `--manifest FILE`, shared by every command that reads a project. */
export const MANIFEST_OPTION: OptionSpec = {
  name: 'manifest',
  value: 'FILE',
  help: 'the project manifest (default: ferry.toml here or above)',
};

/**
 * Splits argv into command words, options and positionals. Global options may stand before or after the
 * command; `--opt=value` and `--opt value` both work.
 */
export function parseArgs(
  argv: readonly string[],
  isCommandWord: (words: readonly string[]) => boolean,
  specsFor: (command: readonly string[]) => readonly OptionSpec[],
): ParsedArgs {
  const command: string[] = [];
  const positionals: string[] = [];
  const raw: { spec?: OptionSpec; name: string; value: string | undefined }[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const name = a.startsWith('--') ? a.slice(2, eq === -1 ? undefined : eq) : a.slice(1, 2);
      const inline =
        eq === -1 ? (a.startsWith('--') || a.length === 2 ? undefined : a.slice(2)) : a.slice(eq + 1);
      raw.push({ name, value: inline, ...(a.startsWith('--') ? {} : { short: true }) });
      const spec = findSpec([...GLOBAL_OPTIONS, ...specsFor(command)], name, !a.startsWith('--'));
      if (spec?.value !== undefined && inline === undefined) {
        const next = argv[i + 1];
        if (next === undefined) throw usage(`option --${spec.name} needs a value (${spec.value})`);
        (raw[raw.length - 1] as { value: string | undefined }).value = next;
        i++;
      }
      continue;
    }
    if (positionals.length === 0 && isCommandWord([...command, a])) command.push(a);
    else positionals.push(a);
  }
  const specs = [...GLOBAL_OPTIONS, ...specsFor(command)];
  const options: Record<string, string | boolean | string[]> = {};
  for (const r of raw) {
    const spec = findSpec(specs, r.name, r.name.length === 1);
    if (spec === undefined)
      throw usage(
        `unknown option ${r.name.length === 1 ? '-' : '--'}${r.name}${command.length > 0 ? ` for "ferry ${command.join(' ')}"` : ''}`,
      );
    if (spec.value === undefined) {
      if (r.value !== undefined) throw usage(`option --${spec.name} takes no value`);
      options[spec.name] = true;
    } else if (spec.repeatable) {
      const prev = options[spec.name];
      options[spec.name] = [...(Array.isArray(prev) ? prev : []), r.value ?? ''];
    } else options[spec.name] = r.value ?? '';
  }
  return { command, positionals, options, rest };
}

function findSpec(specs: readonly OptionSpec[], name: string, short: boolean): OptionSpec | undefined {
  return specs.find((s) => (short ? s.short === name : s.name === name));
}

export function usage(message: string): AppError {
  return new AppError('E_USAGE', message, { hint: 'see ferry --help, or ferry COMMAND --help' });
}

export function intOption(options: OptionValues, name: string, fallback: number): number {
  const v = options[name];
  if (v === undefined) return fallback;
  const n = typeof v === 'string' ? Number.parseInt(v, 10) : NaN;
  if (!Number.isInteger(n) || n < 0 || String(n) !== String(v).trim())
    throw usage(`--${name} expects a whole number, got "${String(v)}"`);
  return n;
}

export function stringOption(options: OptionValues, name: string): string | undefined {
  const v = options[name];
  return typeof v === 'string' ? v : undefined;
}

export function listOption(options: OptionValues, name: string): readonly string[] {
  const v = options[name];
  return Array.isArray(v) ? (v as readonly string[]) : typeof v === 'string' ? [v] : [];
}
