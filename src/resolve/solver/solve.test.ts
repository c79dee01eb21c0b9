import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ListSource, matchesTerm, pkg, requires, verify } from './fixtures.js';
import { renderExplanation, solve } from './index.js';
import type { Candidate, Requirement } from './types.js';

function chosenOf(all: Candidate[], roots: Requirement[], preferred?: ReadonlyMap<string, string>): string[] {
  const r = solve(
    new ListSource(all),
    preferred === undefined ? { requires: roots } : { requires: roots, preferred },
  );
  assert.equal(r.kind, 'sat');
  if (r.kind !== 'sat') return [];
  assert.deepEqual(verify(r.chosen, roots), []);
  return r.chosen.map((c) => `${c.slot === '0' ? c.name : `${c.name}:${c.slot}`} ${c.version}`).sort();
}

describe('solve: satisfiable', () => {
  const rows: {
    name: string;
    all: Candidate[];
    roots: Requirement[];
    preferred?: Map<string, string>;
    want: string[];
  }[] = [
    {
      name: 'newest version preferred',
      all: [pkg('a 1'), pkg('a 3'), pkg('a 2')],
      roots: requires('a'),
      want: ['a 3'],
    },
    {
      name: 'locked version preferred when it matches',
      all: [pkg('a 1'), pkg('a 3'), pkg('a 2')],
      roots: requires('a'),
      preferred: new Map([['a:0', '2']]),
      want: ['a 2'],
    },
    {
      name: 'locked version ignored when it does not match',
      all: [pkg('a 1'), pkg('a 3'), pkg('a 2')],
      roots: requires('a >= 3'),
      preferred: new Map([['a:0', '2']]),
      want: ['a 3'],
    },
    {
      name: 'alternatives: first listed that has a candidate (apt-like)',
      all: [pkg('x 1', { depends: ['b | a'] }), pkg('a 9'), pkg('b 1')],
      roots: requires('x'),
      want: ['b 1', 'x 1'],
    },
    {
      name: 'alternatives: an already chosen one is kept',
      all: [pkg('x 1', { depends: ['b | a'] }), pkg('a 9'), pkg('b 1')],
      roots: requires('a', 'x'),
      want: ['a 9', 'x 1'],
    },
    {
      name: 'alternatives: skip the first when it cannot be installed',
      all: [pkg('x 1', { depends: ['b | a'] }), pkg('a 9'), pkg('b 1', { depends: ['missing'] })],
      roots: requires('x'),
      want: ['a 9', 'x 1'],
    },
    {
      name: 'provides: virtual name met by a provider, providers by name',
      all: [
        pkg('web 1', { depends: ['httpd'] }),
        pkg('nginx 1', { provides: ['httpd'] }),
        pkg('apache 2', { provides: ['httpd'] }),
      ],
      roots: requires('web'),
      want: ['apache 2', 'web 1'],
    },
    {
      name: 'provides: versioned provision matches a range, an unversioned one does not',
      all: [
        pkg('x 1', { depends: ['libz >= 1.2'] }),
        pkg('miniz 3', { provides: ['libz = 1.3'] }),
        pkg('anyz 1', { provides: ['libz'] }),
      ],
      roots: requires('x'),
      want: ['miniz 3', 'x 1'],
    },
    {
      name: 'a real package comes before providers',
      all: [pkg('x 1', { depends: ['libz'] }), pkg('libz 1'), pkg('alib 1', { provides: ['libz'] })],
      roots: requires('x'),
      want: ['libz 1', 'x 1'],
    },
    {
      name: 'conflicts force an older version',
      all: [pkg('a 2', { conflicts: ['b'] }), pkg('a 1'), pkg('b 1')],
      roots: requires('a', 'b'),
      want: ['a 1', 'b 1'],
    },
    {
      name: 'conflicts with a version range',
      all: [pkg('a 1', { conflicts: ['b < 2'] }), pkg('b 2'), pkg('b 1')],
      roots: requires('a', 'b'),
      want: ['a 1', 'b 2'],
    },
    {
      name: 'slots coexist',
      all: [pkg('python:3.11 3.11.2'), pkg('python:2.7 2.7.18'), pkg('app 1', { depends: ['python:2.7'] })],
      roots: requires('python:3.11', 'app'),
      want: ['app 1', 'python:2.7 2.7.18', 'python:3.11 3.11.2'],
    },
    {
      name: 'backtracking finds the only solution',
      all: [
        pkg('a 3', { depends: ['c = 1'] }),
        pkg('a 2', { depends: ['c = 2', 'd'] }),
        pkg('a 1', { depends: ['c = 3'] }),
        pkg('b 1', { depends: ['c >= 3'] }),
        pkg('c 1'),
        pkg('c 2'),
        pkg('c 3'),
      ],
      roots: requires('a', 'b'),
      want: ['a 1', 'b 1', 'c 3'],
    },
    {
      name: 'unreached packages are not installed',
      all: [pkg('a 1', { depends: ['b'] }), pkg('b 1'), pkg('c 1'), pkg('d 1', { provides: ['b'] })],
      roots: requires('a'),
      want: ['a 1', 'b 1'],
    },
    {
      name: 'self-provision and self-conflict (Debian mail-transport-agent shape)',
      all: [
        pkg('postfix 3', { provides: ['mta'], conflicts: ['mta'] }),
        pkg('exim4 4', { provides: ['mta'], conflicts: ['mta'] }),
        pkg('mutt 2', { depends: ['mta'] }),
      ],
      roots: requires('mutt'),
      want: ['exim4 4', 'mutt 2'],
    },
    {
      name: 'dependency cycle',
      all: [pkg('a 1', { depends: ['b'] }), pkg('b 1', { depends: ['a'] })],
      roots: requires('a'),
      want: ['a 1', 'b 1'],
    },
  ];
  for (const row of rows)
    test(row.name, () => {
      assert.deepEqual(chosenOf(row.all, row.roots, row.preferred), row.want);
    });

  test('loads only the names the search reaches', () => {
    const source = new ListSource([
      pkg('a 1', { depends: ['b'] }),
      pkg('b 1'),
      pkg('c 1', { depends: ['d'] }),
    ]);
    const r = solve(source, { requires: requires('a') });
    assert.equal(r.kind, 'sat');
    assert.deepEqual([...source.asked].sort(), ['a', 'b']);
    assert.equal(r.stats.candidatesLoaded, 2);
  });

  test('walks down 2,000 versions, each ruled out, without quadratic clause growth', () => {
    const n = 2000;
    const all = [pkg('c 1')];
    for (let k = 1; k <= n; k++) all.push(pkg(`a ${k}`, { depends: [k === 1 ? 'c' : `c = ${k}`] }));
    const r = solve(new ListSource(all), { requires: requires('a') });
    assert.equal(r.kind, 'sat');
    assert.deepEqual(r.kind === 'sat' ? r.chosen.map((c) => `${c.name} ${c.version}`) : [], ['a 1', 'c 1']);
    assert.ok(r.stats.clauses < 3 * n, `${r.stats.clauses} clauses`);
    assert.equal(r.stats.conflicts, n - 1);
  });

  test('deterministic', () => {
    const all = [
      pkg('x 1', { depends: ['v'] }),
      pkg('p 1', { provides: ['v'] }),
      pkg('q 1', { provides: ['v'] }),
    ];
    const first = chosenOf(all, requires('x'));
    for (let i = 0; i < 5; i++) assert.deepEqual(chosenOf([...all].reverse(), requires('x')), first);
  });
});

// ---- Randomized comparison against brute force ----

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Shape {
  readonly names: readonly string[];
  readonly maxVersions: number;
  readonly maxDepends: number;
}

function randomProblem(rand: () => number, shape: Shape): { all: Candidate[]; roots: Requirement[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const names = shape.names;
  const virtuals = ['v', 'w'];
  const randomTerm = (): string => {
    const name = rand() < 0.15 ? pick(virtuals) : pick(names);
    const r = rand();
    const v = 1 + Math.floor(rand() * shape.maxVersions);
    if (r < 0.4) return name;
    if (r < 0.6) return `${name} >= ${v}`;
    if (r < 0.8) return `${name} < ${v}`;
    if (r < 0.9) return `${name} = ${v}`;
    return `${name}:${pick(['0', '1'])}`;
  };
  const randomReq = (): string => {
    const n = rand() < 0.3 ? 2 : 1;
    return Array.from({ length: n }, randomTerm).join(' | ');
  };
  const all: Candidate[] = [];
  for (const name of names) {
    const versions = 1 + Math.floor(rand() * shape.maxVersions);
    for (let v = 1; v <= versions; v++) {
      const slot = rand() < 0.15 ? '1' : '0';
      if (all.some((c) => c.name === name && c.slot === slot && c.version === String(v))) continue;
      const depends = Array.from({ length: Math.floor(rand() * (shape.maxDepends + 1)) }, randomReq);
      const conflicts = rand() < 0.3 ? [randomTerm()] : [];
      const provides =
        rand() < 0.2
          ? [rand() < 0.5 ? pick(virtuals) : `${pick(virtuals)} = ${1 + Math.floor(rand() * 3)}`]
          : [];
      all.push(pkg(`${name}:${slot} ${v}`, { depends, conflicts, provides }));
    }
  }
  const roots = requires(...Array.from({ length: 1 + Math.floor(rand() * 3) }, randomReq));
  return { all, roots };
}

/** Exhaustive search over subsets, with every requirement and conflict precomputed as a bitmask. */
function bruteForceSat(all: readonly Candidate[], roots: readonly Requirement[]): boolean {
  const n = all.length;
  const maskOf = (r: Requirement): number =>
    all.reduce((m, c, i) => (r.alternatives.some((t) => matchesTerm(c, t)) ? m | (1 << i) : m), 0);
  const rootMasks = roots.map(maskOf);
  const depMasks = all.map((c) => c.depends.map(maskOf));
  const conflictMasks = all.map((c, i) =>
    all.reduce((m, o, j) => (j !== i && c.conflicts.some((t) => matchesTerm(o, t)) ? m | (1 << j) : m), 0),
  );
  const groupMasks = all.map((c) =>
    all.reduce((m, o, j) => (o.name === c.name && o.slot === c.slot ? m | (1 << j) : m), 0),
  );
  next: for (let mask = 0; mask < 1 << n; mask++) {
    for (const m of rootMasks) if ((mask & m) === 0) continue next;
    for (let i = 0; i < n; i++) {
      if ((mask & (1 << i)) === 0) continue;
      if ((mask & (conflictMasks[i] ?? 0)) !== 0) continue next;
      const g = mask & (groupMasks[i] ?? 0);
      if ((g & (g - 1)) !== 0) continue next;
      for (const m of depMasks[i] ?? []) if ((mask & m) === 0) continue next;
    }
    return true;
  }
  return false;
}

describe('solve: randomized against brute force', () => {
  const shapes: { name: string; shape: Shape; count: number }[] = [
    {
      name: 'few versions',
      shape: { names: ['a', 'b', 'c', 'd', 'e'], maxVersions: 3, maxDepends: 2 },
      count: 400,
    },
    {
      name: 'many versions',
      shape: { names: ['a', 'b', 'c', 'd'], maxVersions: 4, maxDepends: 3 },
      count: 300,
    },
  ];
  for (const { name, shape, count } of shapes)
    test(`${count} random problems (${name}) agree on SAT/UNSAT; every answer verifies`, () => {
      const rand = mulberry32(20240611 + count);
      let sat = 0;
      let conflicts = 0;
      for (let i = 0; i < count; i++) {
        const { all, roots } = randomProblem(rand, shape);
        const want = bruteForceSat(all, roots);
        const r = solve(new ListSource(all), { requires: roots });
        conflicts += r.stats.conflicts;
        // Preferences change which answer is found, never whether there is one.
        const some = all.filter(() => rand() < 0.3);
        const preferred = new Map(some.map((c) => [`${c.name}:${c.slot}`, c.version]));
        const withPreferred = solve(new ListSource(all), { requires: roots, preferred });
        assert.equal(withPreferred.kind, r.kind, `problem ${i} with preferences`);
        if (withPreferred.kind === 'sat') assert.deepEqual(verify(withPreferred.chosen, roots), []);
        assert.equal(r.kind === 'sat', want, `problem ${i}: solver says ${r.kind}`);
        if (r.kind === 'unsat') {
          // Every derivation ends with the request failing, cites only earlier steps, and renders with a hint.
          const { steps } = r.explanation;
          steps.forEach((step, k) => {
            for (const c of step.because) if (c.kind === 'step') assert.ok(c.step < k, `problem ${i}`);
          });
          assert.deepEqual(steps.at(-1)?.therefore, { installed: [], alternatives: [] }, `problem ${i}`);
          const lines = renderExplanation(r.explanation).split('\n');
          assert.match(lines.at(-2) ?? '', /the request cannot be resolved\.( \(\d+\))?$/, `problem ${i}`);
          assert.match(lines.at(-1) ?? '', /^hint: /);
        }
        if (r.kind === 'sat') {
          sat++;
          assert.deepEqual(verify(r.chosen, roots), [], `problem ${i}`);
        }
      }
      assert.ok(sat > count / 8 && sat < count - count / 8, `a mix of outcomes (${sat} sat)`);
      assert.ok(conflicts > count / 4, `the search backtracks (${conflicts} conflicts)`);
    });
});
