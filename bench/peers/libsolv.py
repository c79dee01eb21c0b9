#!/usr/bin/python3
"""libsolv, through Debian's python3-solv, on the same Debian `Packages` file and jobs as ferry's solver.

Run with /usr/bin/python3 (Debian's python; `solv` is not importable from other builds). Reads a JSON request on
stdin and writes a JSON report on stdout:

  in:  {"packages": PATH, "arch": "amd64", "loads": 3, "runs": 5,
        "jobs": [{"id": "nginx", "names": ["nginx"]}, ...]}
  out: {"libsolv": VERSION, "load": {"firstMs", "minMs", "parseMs", "whatprovidesMs", "solvables"},
        "jobs": [{"id", "count", "solveFirstMs", "solveMinMs", "problems": [str], "installed": ["name=version"]}]}

Each load is a fresh pool: add_debpackages (parse the text), addfileprovides, createwhatprovides. Each run is a
fresh solver over the last pool: SOLVER_INSTALL | SOLVER_SOLVABLE_NAME per name, SOLVER_FLAG_IGNORE_RECOMMENDED,
an empty installed repo. Times are wall-clock (time.perf_counter) in milliseconds.
"""
import json
import sys
import time

import solv


def load(path, arch):
    t0 = time.perf_counter()
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_DEB)
    pool.setarch(arch)
    repo = pool.add_repo("bookworm")
    f = solv.xfopen(path)
    if f is None:
        raise SystemExit(f"libsolv cannot open {path}")
    if not repo.add_debpackages(f):
        raise SystemExit(f"libsolv cannot read {path}: {pool.errstr}")
    f.close()
    pool.installed = pool.add_repo("@System")
    t1 = time.perf_counter()
    pool.addfileprovides()
    pool.createwhatprovides()
    t2 = time.perf_counter()
    return pool, repo, (t1 - t0) * 1000, (t2 - t1) * 1000


def solve(pool, names):
    t0 = time.perf_counter()
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    jobs = [pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_NAME, pool.str2id(n)) for n in names]
    problems = solver.solve(jobs)
    t1 = time.perf_counter()
    return solver, problems, (t1 - t0) * 1000


def main():
    req = json.load(sys.stdin)
    arch = req.get("arch", "amd64")
    loads = max(1, int(req.get("loads", 3)))
    runs = max(1, int(req.get("runs", 5)))
    totals, pool, repo, parse_ms, wp_ms = [], None, None, [], []
    for _ in range(loads):
        pool = repo = None
        t0 = time.perf_counter()
        pool, repo, p, w = load(req["packages"], arch)
        totals.append((time.perf_counter() - t0) * 1000)
        parse_ms.append(p)
        wp_ms.append(w)
    out = {
        "libsolv": getattr(solv, "__version__", None) or "python3-solv",
        "load": {
            "firstMs": totals[0],
            "minMs": min(totals),
            "parseMs": min(parse_ms),
            "whatprovidesMs": min(wp_ms),
            "solvables": repo.nsolvables,
        },
        "jobs": [],
    }
    for job in req["jobs"]:
        times, solver, problems = [], None, None
        for _ in range(runs):
            solver, problems, ms = solve(pool, job["names"])
            times.append(ms)
        installed = []
        if not problems:
            for s in solver.transaction().newsolvables():
                installed.append(f"{s.name}={s.evr}")
        out["jobs"].append({
            "id": job["id"],
            "count": len(installed),
            "solveFirstMs": times[0],
            "solveMinMs": min(times),
            "problems": [str(p) + ": " + "; ".join(str(r) for r in p.findallproblemrules()) for p in problems or []],
            "installed": sorted(installed),
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
