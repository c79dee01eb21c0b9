import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GenerationPackage } from '../profile/index.js';
import type { StoreId, StoreMeta } from '../store/index.js';
import { checkHostPlatform, planHost, rolloutWaves, selectHosts } from './plan.js';
import { parseProbe } from './probe.js';
import type { FleetHost, HostState, ProfileTarget } from './types.js';

const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.0' as StoreId;
const B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-libgreet-2.0' as StoreId;
const C = 'cccccccccccccccccccccccccccccccc-hello-1.0' as StoreId;

function pkg(name: string, version: string, storeId: StoreId, requested: boolean): GenerationPackage {
  return { name, version, slot: '0', storeId, options: {}, requested };
}

const generation = (n: number, packages: GenerationPackage[]) =>
  JSON.stringify({ formatVersion: 1, number: n, createdAt: '', requests: ['hello'], packages });

test('parseProbe: platform, store paths and each profile; junk and dot names ignored', () => {
  const text = [
    'os Linux',
    'arch x86_64',
    'glibc glibc 2.17',
    `path ${A}`,
    'path not-a-store-path',
    `path ${B}`,
    'current web 3',
    'generation web 1',
    'generation web 3',
    'generation web 2',
    'manifest-begin web',
    generation(3, [pkg('hello', '2.0', A, true), pkg('libgreet', '2.0', B, false)]),
    '',
    'manifest-end web',
    'current db ',
    'end',
  ].join('\n');
  const s = parseProbe(text, 'h1');
  assert.equal(s.os, 'linux');
  assert.equal(s.arch, 'x86_64');
  assert.equal(s.glibc, '2.17');
  assert.deepEqual([...s.storeIds], [A, B]);
  assert.deepEqual(s.profiles.get('web')?.generations, [1, 2, 3]);
  assert.equal(s.profiles.get('web')?.current, 3);
  assert.equal(s.profiles.get('web')?.manifest?.packages.length, 2);
  assert.equal(s.profiles.get('db')?.current, undefined);
});

test('parseProbe: glibc from ldd --version; a cut-short answer is an error', () => {
  const s = parseProbe('os Linux\narch aarch64\nglibc ldd (Debian GLIBC 2.36-9+deb12u4) 2.36\nend\n', 'h');
  assert.equal(s.glibc, '2.36');
  assert.equal(parseProbe('os Linux\narch x\nglibc \nend', 'h').glibc, undefined);
  assert.throws(() => parseProbe('os Linux\narch x86_64\n', 'h9'), /h9: its state could not be read/);
});

const host = (name: string, groups: string[] = [], profiles = ['web']): FleetHost => ({
  name,
  address: { kind: 'path', dir: `/srv/${name}` },
  root: `/srv/${name}`,
  profiles,
  groups,
  checkTimeoutS: 60,
});

const target = (packages: GenerationPackage[]): ReadonlyMap<string, ProfileTarget> =>
  new Map([
    ['web', { profile: 'web', requests: ['hello'], packages, closure: packages.map((p) => p.storeId) }],
  ]);

function state(
  ids: StoreId[],
  current?: { n: number; gens: number[]; packages: GenerationPackage[] },
): HostState {
  const profiles = new Map(
    current === undefined
      ? []
      : [
          [
            'web',
            {
              current: current.n,
              generations: current.gens,
              manifest: JSON.parse(generation(current.n, current.packages)) as never,
            },
          ] as const,
        ],
  );
  return { os: 'linux', arch: 'x86_64', glibc: '2.36', zstd: true, storeIds: new Set(ids), profiles };
}

test('planHost: sends only what the host lacks; a new generation after the highest; REMOVED in the diff', () => {
  const v2 = [pkg('hello', '2.0', A, true), pkg('libgreet', '2.0', B, false)];
  const v1 = [pkg('hello', '1.0', C, true), pkg('libgreet', '2.0', B, false)];
  const fresh = planHost(host('h1'), state([]), target(v2));
  assert.deepEqual(fresh.missing, [A, B]);
  assert.deepEqual(
    fresh.steps.map((s) => [s.from, s.to]),
    [[undefined, 1]],
  );
  const same = planHost(host('h1'), state([A, B], { n: 4, gens: [1, 4], packages: v2 }), target(v2));
  assert.deepEqual(same.missing, []);
  assert.equal(same.steps[0]?.to, undefined, 'nothing changes: no generation');
  const down = planHost(host('h1'), state([A, B], { n: 2, gens: [1, 2, 5], packages: v2 }), target(v1));
  assert.deepEqual(down.missing, [C]);
  assert.deepEqual([down.steps[0]?.from, down.steps[0]?.to], [2, 6]);
  assert.deepEqual(
    down.steps[0]?.diff.downgraded.map((c) => c.name),
    ['hello'],
  );
  const gone = planHost(host('h1'), state([A, B], { n: 1, gens: [1], packages: v2 }), target([]));
  assert.deepEqual(gone.steps[0]?.diff.removed.map((c) => c.name).sort(), ['hello', 'libgreet']);
});

test('planHost: a current generation whose manifest cannot be read is marked, so its removals are asked about', () => {
  const v2 = [pkg('hello', '2.0', A, true)];
  const known = planHost(host('h1'), state([A], { n: 3, gens: [3], packages: [] }), target(v2));
  assert.equal(known.steps[0]?.unreadable, undefined);
  const blind: HostState = {
    ...state([A]),
    profiles: new Map([['web', { current: 3, generations: [3], manifest: undefined }]]),
  };
  const p = planHost(host('h1'), blind, target(v2));
  assert.deepEqual([p.steps[0]?.from, p.steps[0]?.to, p.steps[0]?.unreadable], [3, 4, true]);
  const fresh = planHost(host('h1'), state([]), target(v2));
  assert.equal(fresh.steps[0]?.unreadable, undefined, 'no generation at all: nothing to remove');
});

test('checkHostPlatform: arch and glibc, named in the message', () => {
  const meta = (arch: string, minGlibc?: string) =>
    ({
      id: A,
      name: 'hello',
      version: '2.0',
      platform: { os: 'linux', arch, ...(minGlibc === undefined ? {} : { minGlibc }) },
    }) as StoreMeta;
  const s = state([]);
  checkHostPlatform('h1', s, [meta('x86_64', '2.34')]);
  assert.throws(() => {
    checkHostPlatform('h1', s, [meta('aarch64')]);
  }, /h1: hello 2\.0 .* is built for linux\/aarch64; h1 is linux\/x86_64/);
  assert.throws(
    () => {
      checkHostPlatform('old', { ...s, glibc: '2.17' }, [meta('x86_64', '2.34')]);
    },
    (e: Error & { code?: string }) =>
      e.code === 'E_FLEET_PLATFORM' && e.message.includes('needs glibc 2.34; old has glibc 2.17'),
  );
});

test('selectHosts: names and groups in inventory order; unknown names are an error listing what exists', () => {
  const all = [host('h1', ['eu']), host('h2', ['us']), host('h3', ['eu'])];
  assert.deepEqual(
    selectHosts(all, []).map((h) => h.name),
    ['h1', 'h2', 'h3'],
  );
  assert.deepEqual(
    selectHosts(all, ['eu']).map((h) => h.name),
    ['h1', 'h3'],
  );
  assert.deepEqual(
    selectHosts(all, ['h3', 'h2']).map((h) => h.name),
    ['h2', 'h3'],
  );
  assert.throws(() => selectHosts(all, ['h9']), /no host or group named "h9".*/);
});

test('rolloutWaves: canaries, then batches; batch 0 is all the rest at once', () => {
  const hosts = ['a', 'b', 'c', 'd', 'e'];
  assert.deepEqual(rolloutWaves(hosts, 1, 2), [['a'], ['b', 'c'], ['d', 'e']]);
  assert.deepEqual(rolloutWaves(hosts, 0, 0), [hosts]);
  assert.deepEqual(rolloutWaves(hosts, 2, 0), [
    ['a', 'b'],
    ['c', 'd', 'e'],
  ]);
  assert.deepEqual(rolloutWaves(hosts, 9, 1), [hosts]);
  assert.deepEqual(rolloutWaves([], 1, 1), []);
});
