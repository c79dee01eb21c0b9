import { Pool } from './pool.js';
import type { Candidate, CandidateSource, Requirement, Term } from './types.js';

/**
 * Clause kinds. Every clause but `root` and `learned` has an owner: a candidate whose installation the clause
 * constrains (its first literal is "not owner"). Owned clauses are generated the first time the owner is
 * assigned true, and never before.
 */
export const clauseKinds = ['root', 'dep', 'one-version', 'conflict', 'learned'] as const;
export type ClauseKind = (typeof clauseKinds)[number];

const ROOT = 0;
const DEP = 1;
const ONE = 2;
const CONFLICT = 3;
const LEARNED = 4;

const UNASSIGNED_RANK = 0x7fffffff;

/** The literal "variable v installed"; `lit ^ 1` is its negation. */
function pos(v: number): number {
  return v << 1;
}
function neg(v: number): number {
  return (v << 1) | 1;
}

/**
 * A CDCL search over candidate variables with lazily generated clauses, two watched literals, first-UIP
 * learning and non-chronological backjumping. Decisions only ever install a candidate, chosen for the first
 * (in generation order) requirement clause whose owner is installed and which has no installed candidate yet;
 * anything never decided or implied stays uninstalled, so the answer contains only what requirements reach.
 *
 * See README.md for the design; `explain.ts` reads the proof an unsatisfiable run leaves behind.
 */
export class Cdcl {
  readonly pool: Pool;
  private readonly preferred: ReadonlyMap<string, string> | undefined;

  // Per variable (index = variable id; 0 is unused).
  private cap = 0;
  private value = new Int8Array(0);
  private level = new Int32Array(0);
  private reason = new Int32Array(0);
  private generated = new Uint8Array(0);
  private seen = new Uint8Array(0);
  private firstReq = new Int32Array(0);
  private reqCount = new Int32Array(0);
  /** Indexed by literal. */
  private readonly watches: number[][] = [[], []];

  // The trail of assigned literals, with the start of each decision level.
  private trail = new Int32Array(0);
  private trailLen = 0;
  private qhead = 0;
  /** Trail entries before this index have had their clauses generated (or were already generated). */
  private genHead = 0;
  private readonly trailLim: number[] = [];

  // Clauses: literals live in one growable buffer.
  private lits = new Int32Array(1024);
  private litsLen = 0;
  private readonly cStart: number[] = [];
  private readonly cLen: number[] = [];
  private readonly cKind: number[] = [];
  private readonly cOwner: number[] = [];
  /** The requirement (root, dep) or conflict term (conflict) a clause came from. */
  private readonly cData: (Requirement | Term | undefined)[] = [];
  /** For learned clauses: the clauses resolved, in order, and the variable each resolution step removed. */
  private readonly cAnte: (readonly number[] | undefined)[] = [];
  private readonly cPivots: (readonly number[] | undefined)[] = [];

  // Requirement clauses (root and dep) in generation order, for decisions.
  private readonly reqClause: number[] = [];
  private readonly reqCands: (readonly number[])[] = [];
  private readonly reqOwner: number[] = [];
  private reqScan = 0;

  problemClauses = 0;
  learnedClauses = 0;
  decisions = 0;
  conflicts = 0;
  /** Set when the search proves there is no solution: the final conflict resolved down to the empty clause. */
  refutation: { readonly ante: readonly number[]; readonly pivots: readonly number[] } | undefined;

  constructor(source: CandidateSource, preferred?: ReadonlyMap<string, string>) {
    this.pool = new Pool(source);
    this.preferred = preferred;
  }

  /** Runs the search; true when a solution was found (read it with `solution`), false when `refutation` is set. */
  run(requires: readonly Requirement[]): boolean {
    for (const req of requires) {
      const cands = this.candidatesFor(req);
      const c = this.addClause(ROOT, 0, cands, req, 0);
      this.addRequirement(c, 0, cands);
      const confl = this.attach(c);
      if (confl >= 0) return this.refute(confl);
    }
    for (;;) {
      let confl = this.propagate();
      if (confl < 0 && this.genHead < this.trailLen) {
        confl = this.generatePending();
        if (confl < 0) continue;
      }
      if (confl >= 0) {
        this.conflicts++;
        if (this.trailLim.length === 0 || this.cLen[confl] === 0) return this.refute(confl);
        this.learn(confl);
        continue;
      }
      const v = this.pickDecision();
      if (v === 0) return true;
      this.decisions++;
      this.trailLim.push(this.trailLen);
      this.assign(pos(v), -1);
    }
  }

  /**
   * The installed candidates reachable from the requirements, breadth-first from the request in the order
   * requirements were written (each requirement followed through its first installed candidate in preference
   * order).
   */
  solution(): Candidate[] {
    const keep = new Uint8Array(this.cap);
    const queue: number[] = [];
    const reach = (i: number): void => {
      for (const u of this.reqCands[i] ?? []) {
        if (this.value[u] !== 1) continue;
        if (keep[u] === 0) {
          keep[u] = 1;
          queue.push(u);
        }
        return;
      }
    };
    for (let i = 0; i < this.reqClause.length; i++) if (this.reqOwner[i] === 0) reach(i);
    // The queue grows while it is walked: the array iterator reads its length at each step.
    for (const v of queue) {
      const first = this.firstReq[v] ?? -1;
      if (first < 0) continue;
      const end = first + (this.reqCount[v] ?? 0);
      for (let i = first; i < end; i++) reach(i);
    }
    return queue.map((v) => this.pool.candidate(v));
  }

  // ---- Reading clauses (for explanations) ----

  clauseLits(c: number): number[] {
    const s = this.cStart[c] ?? 0;
    return Array.from(this.lits.subarray(s, s + (this.cLen[c] ?? 0)));
  }
  clauseKind(c: number): ClauseKind {
    return clauseKinds[this.cKind[c] ?? LEARNED] ?? 'learned';
  }
  clauseOwner(c: number): number {
    return this.cOwner[c] ?? 0;
  }
  clauseData(c: number): Requirement | Term | undefined {
    return this.cData[c];
  }
  clauseProof(
    c: number,
  ): { readonly ante: readonly number[]; readonly pivots: readonly number[] } | undefined {
    const ante = this.cAnte[c];
    const pivots = this.cPivots[c];
    return ante === undefined || pivots === undefined ? undefined : { ante, pivots };
  }

  // ---- Clause generation ----

  /** Candidates for a requirement: alternatives in the order written, each in `Pool.matches` order; preferred
   * (locked or installed) versions moved to the front. */
  private candidatesFor(req: Requirement): readonly number[] {
    let out: readonly number[];
    const alts = req.alternatives;
    if (alts.length === 1 && alts[0] !== undefined) out = this.pool.matches(alts[0]);
    else {
      const union: number[] = [];
      for (const t of alts) for (const v of this.pool.matches(t)) if (!union.includes(v)) union.push(v);
      out = union;
    }
    const preferred = this.preferred;
    if (preferred !== undefined && preferred.size > 0 && out.length > 1) {
      const first: number[] = [];
      const rest: number[] = [];
      for (const v of out) {
        const c = this.pool.candidate(v);
        (preferred.get(`${c.name}:${c.slot}`) === c.version ? first : rest).push(v);
      }
      out = first.concat(rest);
    }
    this.grow();
    return out;
  }

  /** Generates the clauses of every variable newly installed on the trail; returns a conflicting clause or -1. */
  private generatePending(): number {
    let confl = -1;
    while (this.genHead < this.trailLen && confl < 0) {
      const lit = this.trail[this.genHead++] ?? 0;
      if ((lit & 1) === 1) continue;
      const v = lit >> 1;
      if (this.generated[v] === 0) confl = this.generate(v);
      else {
        const first = this.firstReq[v] ?? -1;
        if (first >= 0 && first < this.reqScan) this.reqScan = first;
      }
    }
    return confl;
  }

  private generate(v: number): number {
    this.generated[v] = 1;
    const cand = this.pool.candidate(v);
    const deps = cand.depends.map((req) => this.candidatesFor(req));
    // A requirement nothing meets rules the candidate out for good: its one-literal clause conflicts now, and
    // learning turns it into a level-0 fact, so the candidate's other clauses are never needed.
    const missing = deps.findIndex((cands) => cands.length === 0);
    if (missing >= 0) return this.addClause(DEP, v, [], cand.depends[missing], 0);
    let confl = -1;
    for (const u of this.pool.groupMembers(v)) {
      if (u === v || this.generated[u] === 1) continue;
      const c = this.addClause(ONE, v, [u], undefined, 1);
      const r = this.attach(c);
      if (confl < 0) confl = r;
    }
    for (const term of cand.conflicts) {
      for (const u of this.pool.matches(term)) {
        if (u === v) continue;
        this.grow();
        const c = this.addClause(CONFLICT, v, [u], term, 1);
        const r = this.attach(c);
        if (confl < 0) confl = r;
      }
    }
    for (let i = 0; i < deps.length; i++) {
      const req = cand.depends[i];
      const cands = deps[i] ?? [];
      if (cands.includes(v)) continue;
      const c = this.addClause(DEP, v, cands, req, 0);
      this.addRequirement(c, v, cands);
      const r = this.attach(c);
      if (confl < 0) confl = r;
    }
    return confl;
  }

  private addRequirement(c: number, owner: number, cands: readonly number[]): void {
    if (cands.length === 0) return;
    if (owner !== 0) {
      if ((this.firstReq[owner] ?? -1) < 0) this.firstReq[owner] = this.reqClause.length;
      this.reqCount[owner] = (this.reqCount[owner] ?? 0) + 1;
    }
    this.reqClause.push(c);
    this.reqCands.push(cands);
    this.reqOwner.push(owner);
  }

  /**
   * Stores a clause `[not owner] ∨ others`, where `others` are installed-literals of `vars` (sign 0) or
   * not-installed literals (sign 1).
   */
  private addClause(
    kind: number,
    owner: number,
    vars: readonly number[],
    data: Requirement | Term | undefined,
    sign: number,
  ): number {
    const len = vars.length + (owner === 0 ? 0 : 1);
    this.reserve(len);
    const s = this.litsLen;
    let k = s;
    if (owner !== 0) this.lits[k++] = neg(owner);
    for (const v of vars) this.lits[k++] = (v << 1) | sign;
    this.litsLen = k;
    const c = this.cStart.length;
    this.cStart.push(s);
    this.cLen.push(len);
    this.cKind.push(kind);
    this.cOwner.push(owner);
    this.cData.push(data);
    this.cAnte.push(undefined);
    this.cPivots.push(undefined);
    this.problemClauses++;
    return c;
  }

  /**
   * Watches a new clause under the current assignment: the two best literals (not false; else false at the
   * highest level) are moved to the front. Assigns the remaining literal of a unit clause; returns the clause when
   * every literal is false, else -1.
   */
  private attach(c: number): number {
    const s = this.cStart[c] ?? 0;
    const len = this.cLen[c] ?? 0;
    const lits = this.lits;
    if (len === 0) return c;
    if (len === 1) {
      const l = lits[s] ?? 0;
      const val = this.litValue(l);
      if (val === 1) return -1;
      if (val === -1) return c;
      if (this.trailLim.length !== 0) throw new Error('Assertion failed: unit clause added above level 0');
      this.assign(l, c);
      return -1;
    }
    let i1 = -1;
    let r1 = -1;
    let i2 = -1;
    let r2 = -1;
    for (let k = 0; k < len; k++) {
      const l = lits[s + k] ?? 0;
      const r = this.litValue(l) === -1 ? (this.level[l >> 1] ?? 0) : UNASSIGNED_RANK;
      if (r > r1) {
        i2 = i1;
        r2 = r1;
        i1 = k;
        r1 = r;
      } else if (r > r2) {
        i2 = k;
        r2 = r;
      }
    }
    this.swap(s, 0, i1);
    this.swap(s, 1, i2 === 0 ? i1 : i2);
    const w0 = lits[s] ?? 0;
    const w1 = lits[s + 1] ?? 0;
    this.watches[w0]?.push(c);
    this.watches[w1]?.push(c);
    if (r2 === UNASSIGNED_RANK) return -1;
    if (r1 === UNASSIGNED_RANK) {
      if (this.litValue(w0) === 0) this.assign(w0, c);
      return -1;
    }
    return c;
  }

  private swap(s: number, a: number, b: number): void {
    if (a === b) return;
    const t = this.lits[s + a] ?? 0;
    this.lits[s + a] = this.lits[s + b] ?? 0;
    this.lits[s + b] = t;
  }

  // ---- Search ----

  private litValue(l: number): number {
    const x = this.value[l >> 1] ?? 0;
    return (l & 1) === 0 ? x : -x;
  }

  private assign(l: number, reason: number): void {
    const v = l >> 1;
    this.value[v] = (l & 1) === 0 ? 1 : -1;
    this.level[v] = this.trailLim.length;
    this.reason[v] = reason;
    this.trail[this.trailLen++] = l;
  }

  /** Unit propagation over two watched literals; returns a conflicting clause or -1. */
  private propagate(): number {
    const lits = this.lits;
    const value = this.value;
    while (this.qhead < this.trailLen) {
      const falseLit = (this.trail[this.qhead++] ?? 0) ^ 1;
      const ws = this.watches[falseLit];
      if (ws === undefined) continue;
      let i = 0;
      let j = 0;
      const n = ws.length;
      while (i < n) {
        const c = ws[i++] ?? 0;
        const s = this.cStart[c] ?? 0;
        if (lits[s] === falseLit) {
          lits[s] = lits[s + 1] ?? 0;
          lits[s + 1] = falseLit;
        }
        const first = lits[s] ?? 0;
        const fv = value[first >> 1] ?? 0;
        const firstVal = (first & 1) === 0 ? fv : -fv;
        if (firstVal === 1) {
          ws[j++] = c;
          continue;
        }
        const len = this.cLen[c] ?? 0;
        let moved = false;
        for (let k = 2; k < len; k++) {
          const l = lits[s + k] ?? 0;
          const x = value[l >> 1] ?? 0;
          if (((l & 1) === 0 ? x : -x) !== -1) {
            lits[s + 1] = l;
            lits[s + k] = falseLit;
            this.watches[l]?.push(c);
            moved = true;
            break;
          }
        }
        if (moved) continue;
        ws[j++] = c;
        if (firstVal === -1) {
          while (i < n) ws[j++] = ws[i++] ?? 0;
          ws.length = j;
          this.qhead = this.trailLen;
          return c;
        }
        this.assign(first, c);
      }
      ws.length = j;
    }
    return -1;
  }

  /** The variable to install next, or 0 when every active requirement is met. */
  private pickDecision(): number {
    const value = this.value;
    const n = this.reqClause.length;
    for (let i = this.reqScan; i < n; i++) {
      const owner = this.reqOwner[i] ?? 0;
      if (owner !== 0 && value[owner] !== 1) continue;
      let free = 0;
      let met = false;
      for (const u of this.reqCands[i] ?? []) {
        const x = value[u];
        if (x === 1) {
          met = true;
          break;
        }
        if (x === 0 && free === 0) free = u;
      }
      if (met) continue;
      if (free === 0) throw new Error('Assertion failed: a violated requirement escaped propagation');
      this.reqScan = i;
      return free;
    }
    this.reqScan = n;
    return 0;
  }

  /** First-UIP analysis, backjump, and the learned clause asserted. */
  private learn(confl: number): void {
    const current = this.trailLim.length;
    const seen = this.seen;
    const learnt = [0];
    const ante = [confl];
    const pivots: number[] = [];
    let pathC = 0;
    let p = -1;
    let idx = this.trailLen - 1;
    let c = confl;
    for (;;) {
      const s = this.cStart[c] ?? 0;
      const len = this.cLen[c] ?? 0;
      for (let k = 0; k < len; k++) {
        const q = this.lits[s + k] ?? 0;
        const v = q >> 1;
        if (p !== -1 && v === p >> 1) continue;
        if (seen[v] === 0) {
          seen[v] = 1;
          // Level-0 literals stay in the clause, so it is exactly the resolvent of `ante` (explanations need that).
          if ((this.level[v] ?? 0) >= current) pathC++;
          else learnt.push(q);
        }
      }
      if (pathC === 0) throw new Error('Assertion failed: conflict without a literal at the current level');
      do p = this.trail[idx--] ?? 0;
      while (seen[p >> 1] === 0);
      const v = p >> 1;
      seen[v] = 0;
      if (--pathC === 0) break;
      c = this.reason[v] ?? -1;
      ante.push(c);
      pivots.push(v);
    }
    learnt[0] = p ^ 1;
    let bt = 0;
    let at = 1;
    for (let k = 1; k < learnt.length; k++) {
      const v = (learnt[k] ?? 0) >> 1;
      seen[v] = 0;
      const lv = this.level[v] ?? 0;
      if (lv > bt) {
        bt = lv;
        at = k;
      }
    }
    if (learnt.length > 1) {
      const t = learnt[1] ?? 0;
      learnt[1] = learnt[at] ?? 0;
      learnt[at] = t;
    }
    this.backtrack(bt);
    this.reserve(learnt.length);
    const s = this.litsLen;
    for (const l of learnt) this.lits[this.litsLen++] = l;
    const id = this.cStart.length;
    this.cStart.push(s);
    this.cLen.push(learnt.length);
    this.cKind.push(LEARNED);
    this.cOwner.push(0);
    this.cData.push(undefined);
    this.cAnte.push(ante);
    this.cPivots.push(pivots);
    this.learnedClauses++;
    if (learnt.length > 1) {
      this.watches[learnt[0] ?? 0]?.push(id);
      this.watches[learnt[1] ?? 0]?.push(id);
    }
    this.assign(learnt[0] ?? 0, id);
  }

  /** Resolves a level-0 conflict back through the reasons of its literals to the empty clause. */
  private refute(confl: number): false {
    const seen = this.seen;
    const ante = [confl];
    const pivots: number[] = [];
    const mark = (c: number, skip: number): void => {
      const s = this.cStart[c] ?? 0;
      const len = this.cLen[c] ?? 0;
      for (let k = 0; k < len; k++) {
        const v = (this.lits[s + k] ?? 0) >> 1;
        if (v !== skip) seen[v] = 1;
      }
    };
    mark(confl, 0);
    for (let i = this.trailLen - 1; i >= 0; i--) {
      const v = (this.trail[i] ?? 0) >> 1;
      if (seen[v] === 0) continue;
      seen[v] = 0;
      const r = this.reason[v] ?? -1;
      if (r < 0) throw new Error('Assertion failed: a level-0 assignment without a reason');
      ante.push(r);
      pivots.push(v);
      mark(r, v);
    }
    this.refutation = { ante, pivots };
    return false;
  }

  private backtrack(b: number): void {
    if (this.trailLim.length <= b) return;
    const stop = this.trailLim[b] ?? 0;
    for (let i = this.trailLen - 1; i >= stop; i--) {
      const v = (this.trail[i] ?? 0) >> 1;
      this.value[v] = 0;
      this.reason[v] = -1;
    }
    this.trailLen = stop;
    this.qhead = stop;
    if (this.genHead > stop) this.genHead = stop;
    this.trailLim.length = b;
    this.reqScan = 0;
  }

  // ---- Storage ----

  /** Makes room in the per-variable arrays for every candidate the pool has interned so far. */
  private grow(): void {
    const need = this.pool.count + 1;
    while (this.watches.length < 2 * need) this.watches.push([]);
    if (need <= this.cap) return;
    const cap = Math.max(need, this.cap * 2, 64);
    this.value = extend(this.value, new Int8Array(cap));
    this.level = extend(this.level, new Int32Array(cap));
    this.reason = extend(this.reason, new Int32Array(cap).fill(-1));
    this.generated = extend(this.generated, new Uint8Array(cap));
    this.seen = extend(this.seen, new Uint8Array(cap));
    this.firstReq = extend(this.firstReq, new Int32Array(cap).fill(-1));
    this.reqCount = extend(this.reqCount, new Int32Array(cap));
    this.trail = extend(this.trail, new Int32Array(cap));
    this.cap = cap;
  }

  private reserve(n: number): void {
    if (this.litsLen + n <= this.lits.length) return;
    const next = new Int32Array(Math.max(this.lits.length * 2, this.litsLen + n));
    next.set(this.lits);
    this.lits = next;
  }
}

function extend<T extends Int8Array | Int32Array | Uint8Array>(old: T, next: T): T {
  next.set(old);
  return next;
}
