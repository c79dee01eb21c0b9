import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, isAppError, type Reporter } from '../core/index.js';
import { GENERATION_FORMAT_VERSION, linkGeneration, type GenerationManifest } from '../profile/index.js';
import { removeTree } from '../platform/index.js';
import type { Store, StoreId, StoreMeta } from '../store/index.js';
import { genTreeName, Packer, prepareOutgoing, Receiver, sendPaths } from './copy.js';
import { localZstd, type Codec } from './compress.js';
import { likelyMissing, readHint, writeHint, type HostHint } from './hints.js';
import { checkHostPlatform, planHost, rolloutWaves, type HostPlan } from './plan.js';
import { openProbed } from './probe.js';
import { ACTIVATE, DISCARD } from './scripts.js';
import { openTransport, runChecked, type Transport } from './transport.js';
import type { FleetHost, FleetSettings, HostProfileState, HostState, ProfileTarget } from './types.js';

export interface FleetContext {
  readonly store: Store;
  readonly settings: FleetSettings;
  readonly reporter: Reporter;
  /** Hosts worked on at once (connections). */
  readonly parallel: number;
}

export type HostResult = 'switched' | 'unchanged' | 'rolled-back' | 'failed' | 'halted' | 'not-switched';

export interface HostOutcome {
  readonly host: string;
  result: HostResult;
  steps: readonly { profile: string; from: number | undefined; to: number | undefined }[];
  bytesSent: number;
  pathsSent: number;
  /** How what was sent was compressed (zstd when both ends have it); absent when nothing was sent. */
  codec?: Codec;
  ms: number;
  /** Nanoseconds each switch took on the host (the rename alone). */
  switchNs: number[];
  /** When each phase of this host ended, in milliseconds since this process started (for --json, benches). */
  phases: Record<string, number>;
  error?: { code: string; message: string; hint?: string };
  plan?: HostPlan;
}

export interface DeployOptions {
  readonly canary: number;
  readonly batch: number;
  /** Called after every host is staged and before any switch: false stops (staged generations are removed). */
  readonly confirm?: (plans: readonly HostPlan[]) => Promise<boolean>;
}

interface Session {
  /** Names this deploy's temporary files on the host; one per host, so two hosts sharing a root never mix. */
  readonly token: string;
  readonly host: FleetHost;
  readonly outcome: HostOutcome;
  transport?: Transport;
  state?: HostState;
  started: number;
  /** Whether the host will likely be sent store paths (prepack's guess), known once this machine has built. */
  readonly sends: Promise<boolean>;
  readonly guessSends: (likely: boolean) => void;
  /** A RECEIVE started while the host was probed, when it likely lacks something; taken by stage. */
  receiver?: Receiver | undefined;
  /** Set when stage takes over, so a receiver is no longer started. */
  staging?: boolean;
}

/**
 * Deploy targets to hosts: stage every host (probe, platform check, copy what it lacks, make the new
 * generation without switching), then switch in waves (canaries, then batches), checking each host after
 * its switch. A failed check switches that host back and halts the rollout.
 */
export async function deploy(
  fc: FleetContext,
  hosts: readonly FleetHost[],
  targets: Promise<ReadonlyMap<string, ProfileTarget>>,
  opts: DeployOptions,
): Promise<HostOutcome[]> {
  const sessions = hosts.map(newSession);
  targets.catch(() => undefined); // awaited below; a failed build must not count as unhandled meanwhile
  const hints = new Map(hosts.map((h) => [h.name, readHint(fc.store.rootDir, h.name, h.root)]));
  // Each host is staged as soon as it is probed and this machine has built (or checked) what it deploys.
  let inputs: (input: StageInput | undefined) => void = () => undefined;
  const stageInput = new Promise<StageInput | undefined>((resolve) => (inputs = resolve));
  // Hosts are asked what they have while this machine still builds: the logins cost nothing then. They
  // start in this tick, before anything is awaited (the build's synchronous work would run first).
  const staged = mapLimit(sessions, fc.parallel, (s) =>
    guard(fc, s, async () => {
      await probe(fc, s);
      const input = await stageInput;
      mark(s, 'built');
      if (input !== undefined) await stage(fc, s, input);
    }),
  );
  staged.catch(() => undefined); // awaited below
  const packer = Packer.open(fc.store, scratchToken());
  let genDir: string | undefined;
  try {
    genDir = await fs.mkdtemp(join(tmpdir(), 'ferry-gen-'));
    const built = await targets;
    // Store metadata is immutable and every host needs the same: each file is read and checked once, and
    // that, like linking the generation trees, happens while the hosts are still being probed.
    const metas = new Map<StoreId, Promise<StoreMeta>>();
    const readMeta = (id: StoreId) => {
      let m = metas.get(id);
      if (m === undefined) {
        metas.set(id, (m = fc.store.readMeta(id)));
        m.catch(() => undefined); // awaited by the host that needs it
      }
      return m;
    };
    for (const t of built.values()) for (const id of t.closure) void readMeta(id);
    for (const s of sessions)
      void prepack(fc, s.host, hints.get(s.host.name), built, packer, readMeta).then(s.guessSends);
    const trees = await linkTrees(fc.store, built, genDir);
    inputs({ targets: built, trees, packer, readMeta });
    await staged;
    const ready = sessions.filter(
      (s) => s.outcome.error === undefined && s.outcome.steps.some((x) => x.to !== undefined),
    );
    if (ready.length > 0 && opts.confirm !== undefined) {
      const go = await opts.confirm(
        ready.map((s) => s.outcome.plan).filter((p): p is HostPlan => p !== undefined),
      );
      if (!go) {
        await mapLimit(ready, fc.parallel, (s) => guard(fc, s, () => discard(s, 'not-switched')));
        return sessions.map((s) => s.outcome);
      }
    }
    await rollout(fc, ready, opts);
    return sessions.map((s) => s.outcome);
  } finally {
    inputs(undefined);
    for (const s of sessions) s.guessSends(false);
    await staged.catch(() => undefined);
    await Promise.all(sessions.map((s) => s.receiver?.cancel() ?? Promise.resolve()));
    await closeAll(sessions);
    await packer[Symbol.asyncDispose]();
    if (genDir !== undefined) await removeTree(genDir);
  }
}

/**
 * Starts packing what the host lacked at the last deploy from here (hints.ts), while it is still being probed;
 * `stage` sends what the probe says it lacks, and finds those packs made or under way. A failure here is
 * ignored: the same paths are packed again, and fail properly, if they are needed. Says whether the host
 * will likely be sent anything (without a hint: yes).
 */
async function prepack(
  fc: FleetContext,
  host: FleetHost,
  hint: Promise<HostHint | undefined> | undefined,
  targets: ReadonlyMap<string, ProfileTarget>,
  packer: Packer,
  readMeta: (id: StoreId) => Promise<StoreMeta>,
): Promise<boolean> {
  try {
    const h = await hint;
    if (h === undefined || (h.codec === 'zstd' && !localZstd())) return true;
    const closure = [...new Set(host.profiles.flatMap((p) => targets.get(p)?.closure ?? []))];
    const guess = likelyMissing(closure, h);
    for (const p of await prepareOutgoing(fc.store, guess, host.root, host.name, readMeta))
      packer.start(p, h.codec);
    return guess.length > 0;
  } catch {
    return true; // only a head start
  }
}

function mark(s: Session, phase: string): void {
  s.outcome.phases[phase] = Math.round(performance.now());
}

/**
 * Names this run's scratch files (on a host, and spilled packs here), so concurrent deploys keep apart: unique,
 * not secret (nothing is authorised by it), so it is made without loading crypto, which would delay the logins
 * by milliseconds.
 */
function scratchToken(): string {
  const rnd = Math.floor(Math.random() * 2 ** 40).toString(36);
  return `${process.pid.toString(36)}${Date.now().toString(36)}${rnd}`;
}

function newSession(host: FleetHost): Session {
  let guessSends: (likely: boolean) => void = () => undefined;
  const sends = new Promise<boolean>((resolve) => (guessSends = resolve));
  return {
    host,
    token: scratchToken(),
    outcome: emptyOutcome(host.name),
    started: Date.now(),
    sends,
    guessSends,
  };
}

async function closeAll(sessions: readonly Session[]): Promise<void> {
  await Promise.all(sessions.map((s) => s.transport?.close() ?? Promise.resolve()));
}

function emptyOutcome(host: string): HostOutcome {
  return {
    host,
    result: 'unchanged',
    steps: [],
    bytesSent: 0,
    pathsSent: 0,
    ms: 0,
    switchNs: [],
    phases: {},
  };
}

/** Run one host's step; its failure is recorded on the host, never thrown at the other hosts. */
async function guard(fc: FleetContext, s: Session, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!isAppError(e)) throw e;
    s.outcome.result = 'failed';
    s.outcome.error = { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) };
    fc.reporter.finish(`host:${s.host.name}`, 'failed', e.message);
  } finally {
    s.outcome.ms = Date.now() - s.started;
  }
}

async function connect(fc: FleetContext, s: Session): Promise<Transport> {
  s.transport ??= await openTransport(s.host, fc.settings);
  return s.transport;
}

async function probe(fc: FleetContext, s: Session): Promise<void> {
  fc.reporter.start({ id: `host:${s.host.name}`, kind: 'copy', text: s.host.name });
  // Once the connection takes commands, a host that likely lacks store paths gets its RECEIVE started: its
  // session is set up while the probe runs and the host is planned.
  const { transport, state } = await openProbed(s.host, fc.settings, (t) => {
    void s.sends.then((yes) => {
      if (yes && !s.staging && s.receiver === undefined) s.receiver = Receiver.start(t, s.host.root, s.token);
    });
  });
  s.transport = transport;
  s.state = state;
  mark(s, 'probed');
}

interface StageInput {
  readonly targets: ReadonlyMap<string, ProfileTarget>;
  readonly trees: ReadonlyMap<string, string>;
  readonly packer: Packer;
  readonly readMeta: (id: StoreId) => Promise<StoreMeta>;
}

async function stage(fc: FleetContext, s: Session, input: StageInput): Promise<void> {
  const { targets, trees, packer, readMeta } = input;
  const token = s.token;
  const { host, state } = s;
  const id = `host:${host.name}`;
  const t = await connect(fc, s);
  if (state === undefined) throw new Error(`Assertion failed: ${host.name} staged before its probe`);
  const plan = planHost(host, state, targets);
  s.outcome.plan = plan;
  s.outcome.steps = plan.steps.map((x) => ({ profile: x.profile, from: x.from, to: x.to }));
  const needed = [...new Set(host.profiles.flatMap((p) => targets.get(p)?.closure ?? []))];
  checkHostPlatform(host.name, state, await Promise.all(needed.map(readMeta)));
  const outgoing = await prepareOutgoing(fc.store, plan.missing, host.root, host.name, readMeta);
  const total = outgoing.reduce((n, p) => n + p.bytes, 0);
  fc.reporter.progress(id, `sending ${outgoing.length} store path(s), ${formatSize(total)}`);
  const generations = plan.steps.flatMap((step) => {
    const target = targets.get(step.profile);
    const tree = trees.get(step.profile);
    if (step.to === undefined || target === undefined || tree === undefined) return [];
    return [
      {
        profile: step.profile,
        number: step.to,
        tree,
        manifest: generationFile(target, step.to, step.from),
        closure: target.closure,
      },
    ];
  });
  mark(s, 'planned');
  let lastReport = 0;
  const codec: Codec = state.zstd && localZstd() ? 'zstd' : 'gzip';
  // The generation's tree is sent after the store paths: packed from now on, it is ready by then.
  for (const g of generations) packer.startTree(g.tree, genTreeName(g.profile), codec);
  s.staging = true;
  const receiver = s.receiver;
  s.receiver = undefined;
  const sent = await sendPaths(t, packer, outgoing, {
    ...(receiver === undefined ? {} : { receiver }),
    root: host.root,
    codec,
    token,
    generations,
    onBytes: (n) => {
      // A line per chunk would cost more than the copy: a few updates a second are plenty.
      const now = Date.now();
      if (now - lastReport < 250) return;
      lastReport = now;
      fc.reporter.progress(id, `sent ${formatSize(n)} (of about ${formatSize(total)} before compression)`);
    },
  });
  const storeIds = [...new Set([...state.storeIds, ...outgoing.map((p) => p.id)])].sort();
  await writeHint(fc.store.rootDir, host.name, { root: host.root, codec, storeIds });
  s.outcome.bytesSent = sent.bytes;
  if (sent.bytes > 0) s.outcome.codec = codec;
  s.outcome.pathsSent = sent.paths;
  mark(s, 'staged');
  const changed = plan.steps.some((x) => x.to !== undefined);
  fc.reporter.finish(id, 'ok', `${changed ? 'staged' : 'up to date'}, ${formatSize(sent.bytes)} sent`);
}

function generationFile(target: ProfileTarget, n: number, previous: number | undefined): Buffer {
  const manifest: GenerationManifest = {
    formatVersion: GENERATION_FORMAT_VERSION,
    number: n,
    createdAt: new Date().toISOString(),
    requests: target.requests,
    packages: target.packages,
    ...(previous === undefined ? {} : { previous }),
  };
  return Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
}

/** Each target's generation view, linked once here and sent to every host (links are relative). */
async function linkTrees(store: Store, targets: ReadonlyMap<string, ProfileTarget>, dir: string) {
  const out = new Map<string, string>();
  for (const [name, target] of targets) {
    const tree = join(dir, name);
    await fs.mkdir(tree);
    // As it will lie on a host: <root>/profiles/<P>.d/<N>, beside <root>/store (any root, any N).
    await linkGeneration(store, tree, name, target.packages, {
      treeDir: `/r/profiles/${name}.d/1`,
      storeDir: '/r/store',
    });
    out.set(name, tree);
  }
  return out;
}

async function rollout(fc: FleetContext, ready: Session[], opts: DeployOptions): Promise<void> {
  const waves = rolloutWaves(ready, opts.canary, opts.batch);
  for (let w = 0; w < waves.length; w++) {
    const wave = waves[w] ?? [];
    await mapLimit(wave, fc.parallel, (s) => guard(fc, s, () => switchAndCheck(fc, s, s.token)));
    const failed = wave.filter((s) => s.outcome.result === 'rolled-back' || s.outcome.result === 'failed');
    if (failed.length === 0) continue;
    const rest = waves.slice(w + 1).flat();
    const why = `halted: ${failed.map((s) => s.host.name).join(', ')} failed after switching`;
    await mapLimit(rest, fc.parallel, (s) =>
      guard(fc, s, async () => {
        await discard(s, 'halted');
        s.outcome.error = { code: 'E_FLEET_HALTED', message: `${s.host.name}: not switched; ${why}` };
      }),
    );
    return;
  }
}

async function switchAndCheck(fc: FleetContext, s: Session, token: string): Promise<void> {
  const t = await connect(fc, s);
  const id = `switch:${s.host.name}`;
  fc.reporter.start({ id, kind: 'check', text: `${s.host.name} switch` });
  const pairs = s.outcome.steps.flatMap((x) => (x.to === undefined ? [] : [x.profile, String(x.to)]));
  const { host } = s;
  const r = await runChecked(
    t,
    'switching',
    ACTIVATE,
    [host.root, token, host.check ?? '', String(host.checkTimeoutS), ...pairs],
    // The host enforces the check's timeout itself where it has timeout(1); this is the backstop.
    { timeoutMs: (host.checkTimeoutS + 90) * 1000 },
  );
  mark(s, 'switched');
  const lines = r.stdout.split('\n');
  for (const line of lines) {
    const [word, , t0 = '', t1 = ''] = line.split(' ');
    if (word === 'switched' && /^\d+$/.test(t0) && /^\d+$/.test(t1))
      s.outcome.switchNs.push(Number(BigInt(t1) - BigInt(t0)));
  }
  s.outcome.result = 'switched';
  const failed = lines.find((l) => l.startsWith('check failed '));
  if (failed === undefined) {
    fc.reporter.finish(id, 'ok', host.check === undefined ? 'switched' : 'switched, check passed');
    return;
  }
  const status = failed.slice('check failed '.length);
  const said = lines
    .filter((l) => l.startsWith('| '))
    .map((l) => l.slice(2))
    .slice(-3)
    .join(' / ');
  const why =
    status === '124'
      ? `no answer within ${host.checkTimeoutS} s`
      : `exit status ${status}${said === '' ? '' : `: ${said}`}`;
  s.outcome.result = 'rolled-back';
  s.outcome.error = {
    code: 'E_FLEET_CHECK',
    message: `${host.name}: check \`${host.check ?? ''}\` failed after the switch (${why}); the host switched itself back`,
    hint: 'the new generation stays on the host for inspection; fix it and deploy again',
  };
  fc.reporter.finish(id, 'failed', s.outcome.error.message);
}

async function discard(s: Session, result: HostResult): Promise<void> {
  const t = s.transport;
  if (t !== undefined)
    for (const step of s.outcome.steps)
      if (step.to !== undefined)
        await runChecked(
          t,
          `removing staged generation ${step.to}`,
          DISCARD,
          [s.host.root, step.profile, String(step.to)],
          { timeoutMs: 120_000 },
        );
  s.outcome.result = result;
  s.outcome.steps = s.outcome.steps.map((x) => ({ ...x, to: undefined }));
}

/** Go back one generation on every profile of each host (ferry rollback --hosts). */
export async function rollbackHosts(fc: FleetContext, hosts: readonly FleetHost[]): Promise<HostOutcome[]> {
  const sessions = hosts.map(newSession);
  try {
    await mapLimit(sessions, fc.parallel, (s) =>
      guard(fc, s, async () => {
        const { transport: t, state } = await openProbed(s.host, fc.settings);
        s.transport = t;
        const steps = s.host.profiles.map((profile) => {
          const p = state.profiles.get(profile);
          const to = p === undefined ? undefined : rollbackTarget(p);
          if (to === undefined)
            throw new AppError(
              'E_FLEET_NO_GENERATION',
              `${s.host.name}: profile ${profile} has no generation before ${p?.current ?? '(none)'}`,
              { hint: 'nothing to roll back to; deploy the version you want instead' },
            );
          return { profile, from: p?.current, to };
        });
        const pairs = steps.flatMap((x) => [x.profile, String(x.to)]);
        await runChecked(t, 'rolling back', ACTIVATE, [s.host.root, s.token, '', '0', ...pairs]);
        s.outcome.steps = steps;
        s.outcome.result = 'switched';
      }),
    );
    return sessions.map((s) => s.outcome);
  } finally {
    await closeAll(sessions);
  }
}

/**
 * The generation that was current before this one, as recorded when it was staged; a staged generation
 * that failed its check (left for inspection) is never the answer. Older generations fall back to the
 * highest number below the current one.
 */
function rollbackTarget(p: HostProfileState): number | undefined {
  const recorded = p.manifest?.previous;
  if (recorded !== undefined && p.generations.includes(recorded)) return recorded;
  return p.current === undefined ? undefined : p.generations.filter((n) => n < (p.current ?? 0)).pop();
}

export interface HostStatus {
  readonly host: string;
  readonly reachable: boolean;
  readonly error?: { code: string; message: string; hint?: string };
  readonly state?: HostState;
}

/** Probe hosts in parallel; an unreachable host is a status, not a failure of the others. */
export async function probeHosts(fc: FleetContext, hosts: readonly FleetHost[]): Promise<HostStatus[]> {
  return mapLimit(hosts, fc.parallel, async (host) => {
    let t: Transport | undefined;
    try {
      const probed = await openProbed(host, fc.settings);
      t = probed.transport;
      return { host: host.name, reachable: true, state: probed.state };
    } catch (e) {
      if (!isAppError(e)) throw e;
      const error = { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) };
      return {
        host: host.name,
        reachable: e.code !== 'E_FLEET_CONNECT' && e.code !== 'E_FLEET_HOSTKEY',
        error,
      };
    } finally {
      await t?.close();
    }
  });
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Bytes as people read them: B, KiB or MiB. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
