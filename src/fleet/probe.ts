import { AppError } from '../core/index.js';
import { GENERATION_FORMAT_VERSION, type GenerationManifest } from '../profile/index.js';
import { tryParseStoreId, type StoreId } from '../store/index.js';
import { ACTIVATE, DISCARD, PROBE } from './scripts.js';
import { checkResult, openTransportWith, type Transport } from './transport.js';
import type { FleetHost, FleetSettings, HostProfileState, HostState } from './types.js';

const PROBE_TIMEOUT_MS = 120_000;

/**
 * Connect to a host and ask what it is and what it has (platform, store paths, each profile's generations),
 * the question riding on the login. The transport stays open for what follows; `onReady` gets it as soon as
 * it takes commands, while the probe still runs.
 */
export async function openProbed(
  host: FleetHost,
  settings: FleetSettings,
  onReady?: (t: Transport) => void,
): Promise<{ transport: Transport; state: HostState }> {
  // A host stuck on a hung mount must not stall the whole fleet.
  const { transport, first } = await openTransportWith(host, settings, {
    script: PROBE,
    args: [host.root, ...host.profiles],
    timeoutMs: PROBE_TIMEOUT_MS,
    // Switching and discarding are a line each to the login's session, not a session of their own.
    served: [ACTIVATE, DISCARD],
    ...(onReady === undefined ? {} : { onReady }),
  });
  try {
    const r = checkResult(host.name, 'reading its state', first, PROBE_TIMEOUT_MS);
    return { transport, state: parseProbe(r.stdout, host.name) };
  } catch (e) {
    await transport.close();
    throw e;
  }
}

/** Pure: the probe script's output → HostState. The output is the host's word, so it is checked, not trusted. */
export function parseProbe(text: string, host: string): HostState {
  const fields = new Map<string, string>();
  const storeIds = new Set<StoreId>();
  const profiles = new Map<
    string,
    { current?: number | undefined; generations: number[]; manifest?: GenerationManifest | undefined }
  >();
  const profile = (name: string) => {
    let p = profiles.get(name);
    if (p === undefined) profiles.set(name, (p = { generations: [] }));
    return p;
  };
  const lines = text.split('\n');
  let complete = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const sp = line.indexOf(' ');
    const key = sp === -1 ? line : line.slice(0, sp);
    const rest = sp === -1 ? '' : line.slice(sp + 1);
    if (key === 'end') complete = true;
    else if (key === 'os' || key === 'arch' || key === 'glibc' || key === 'zstd')
      fields.set(key, rest.trim());
    else if (key === 'path') {
      const id = tryParseStoreId(rest);
      if (id !== undefined) storeIds.add(id);
    } else if (key === 'current' || key === 'generation') {
      const [name = '', n = ''] = rest.split(' ');
      const num = /^\d{1,15}$/.test(n) ? Number(n) : undefined;
      if (key === 'current') profile(name).current = num;
      else if (num !== undefined) profile(name).generations.push(num);
    } else if (key === 'manifest-begin') {
      const end = lines.indexOf(`manifest-end ${rest}`, i);
      if (end === -1) break;
      profile(rest).manifest = parseGeneration(lines.slice(i + 1, end).join('\n'), host, rest);
      i = end;
    }
  }
  if (!complete)
    throw new AppError(
      'E_FLEET_REMOTE',
      `${host}: its state could not be read (the probe's output was cut short)`,
      {
        hint: 'check that the host has a POSIX sh and coreutils, and that the login does not print to stdout',
      },
    );
  const out = new Map<string, HostProfileState>();
  for (const [name, p] of profiles)
    out.set(name, {
      current: p.current,
      generations: p.generations.sort((a, b) => a - b),
      manifest: p.manifest?.number === p.current ? p.manifest : undefined,
    });
  return {
    os: (fields.get('os') ?? '').toLowerCase(),
    arch: fields.get('arch') ?? '',
    glibc: /(\d+\.\d+)\s*$/.exec(fields.get('glibc') ?? '')?.[1],
    zstd: fields.get('zstd') === 'yes',
    storeIds,
    profiles: out,
  };
}

function parseGeneration(text: string, host: string, profile: string): GenerationManifest | undefined {
  try {
    const m = JSON.parse(text) as GenerationManifest;
    // The host's word: a manifest of another shape is treated as unknown, never trusted half-way.
    if (!isGeneration(m)) return undefined;
    if (m.formatVersion > GENERATION_FORMAT_VERSION)
      throw new AppError(
        'E_STORE_FORMAT',
        `${host}: profile ${profile}'s generation has formatVersion ${m.formatVersion}; this ferry reads up to ${GENERATION_FORMAT_VERSION}`,
        { hint: 'upgrade ferry on this machine' },
      );
    return m;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

function isGeneration(m: unknown): m is GenerationManifest {
  if (typeof m !== 'object' || m === null) return false;
  const g = m as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string';
  return (
    Number.isSafeInteger(g.number) &&
    Array.isArray(g.requests) &&
    g.requests.every(str) &&
    (g.previous === undefined || Number.isSafeInteger(g.previous)) &&
    Array.isArray(g.packages) &&
    g.packages.every((p: unknown) => {
      const x = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
      return (
        str(x.name) &&
        str(x.version) &&
        str(x.slot) &&
        tryParseStoreId(String(x.storeId)) !== undefined &&
        typeof x.requested === 'boolean'
      );
    })
  );
}
