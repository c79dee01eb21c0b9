#!/usr/bin/python3
"""apt's own resolver in-process, through python3-apt (libapt-pkg), on the same jobs as ferry's solver.

Run with /usr/bin/python3 and APT_CONFIG pointing at the private configuration bench/peers/apt.mjs writes
(empty dpkg status, a local flat repository holding the same `Packages` file, Recommends off). Reads a JSON
request on stdin and writes a JSON report on stdout:

  in:  {"runs": 5, "jobs": [{"id": "nginx", "names": ["nginx"]}, ...]}
  out: {"apt": VERSION, "loadFirstMs", "loadMinMs",
        "jobs": [{"id", "count", "broken", "solveFirstMs", "solveMinMs", "installed": ["name=version"]}]}

Each run opens the cache afresh (timed as load: apt maps its binary cache, built by `apt-get update`) and then,
timed as solve, makes a dependency cache and marks each name for install with automatic installation of
dependencies, as `apt-get install` does, running the problem resolver when something is left broken. A new
cache per run because marks made through one DepCache survive into the next one made on the same cache.
"""
import json
import sys
import time

import apt_pkg


def main():
    req = json.load(sys.stdin)
    runs = max(1, int(req.get("runs", 5)))
    apt_pkg.init_config()
    apt_pkg.init_system()
    if apt_pkg.config.find_b("APT::Install-Recommends", True):
        raise SystemExit("APT::Install-Recommends is on: run with the private APT_CONFIG")
    loads = []
    out = {"apt": apt_pkg.VERSION, "jobs": []}
    for job in req["jobs"]:
        times, dc, cache = [], None, None
        for _ in range(runs):
            dc = cache = None
            t0 = time.perf_counter()
            cache = apt_pkg.Cache(None)
            t1 = time.perf_counter()
            dc = apt_pkg.DepCache(cache)
            with apt_pkg.ActionGroup(dc):
                for name in job["names"]:
                    dc.mark_install(cache[name], True, True)
            if dc.broken_count:
                apt_pkg.ProblemResolver(dc).resolve(True)
            t2 = time.perf_counter()
            loads.append((t1 - t0) * 1000)
            times.append((t2 - t1) * 1000)
        installed = sorted(
            f"{p.name}={dc.get_candidate_ver(p).ver_str}" for p in cache.packages if dc.marked_install(p)
        )
        out["jobs"].append({
            "id": job["id"],
            "count": len(installed),
            "broken": dc.broken_count,
            "solveFirstMs": times[0],
            "solveMinMs": min(times),
            "installed": installed,
        })
    out["loadFirstMs"] = loads[0]
    out["loadMinMs"] = min(loads)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
