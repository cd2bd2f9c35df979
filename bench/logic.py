"""Benchmark the logic check: wall time and peak memory at 1k, 10k and 100k propositions.

Each suite is random components of 2 to 12 atoms (tree-shaped relations plus extra
implications; half the components with coherent credences, half moved by +-0.15 noise; all
clipped to [0.01, 0.99]) plus one component of 500 propositions that is too large to
enumerate (column generation). Each size runs in a fresh process, so its peak memory is its
own. The baseline is one monolithic z3 Optimize for the L1 repair over every small
component's world distribution at once (build + solve), at the sizes where it finishes
within ``--baseline-timeout``.

    python bench/logic.py                          # 1k, 10k, 100k, one process
    python bench/logic.py --sizes 1000
    python bench/logic.py --no-large                # small components only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

# measure the checkout this file is in: run as a script, sys.path[0] is bench/, and an
# installed (editable) consistency package elsewhere would be imported instead
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LARGE = 500  # propositions in the one large component


def build(size: int, large: bool = True, seed: int = 0):
    from tests.relations_gen import random_component

    rng = np.random.default_rng(seed)
    components, total = [], LARGE if large else 0
    while total < size:
        n = int(rng.integers(2, 13))
        components.append(random_component(n, rng, noise=0.15 if len(components) % 2 else 0.0, prefix=f"c{len(components)}_"))
        total += n
    if large:
        components.append(random_component(LARGE, rng, prefix="big_"))
    return components


def run_one(size: int, baseline_timeout: float, large: bool) -> dict:
    from checks.base import RunContext
    from checks.logic import LogicCheck
    from tests.relations_gen import as_suite

    components = build(size, large)
    suite, answers = as_suite(components, f"bench-{size}")
    start, cpu_start = time.perf_counter(), time.process_time()
    result = LogicCheck().run(suite, answers, RunContext())
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "propositions": len(suite.propositions),
        "relations": len(suite.relations),
        "components": int(result.metrics["components"]),
        "seconds": round(seconds, 2),
        # CPU time of this process: on a machine shared with other jobs, the wall time counts
        # their turns too; this is what the check itself took
        "cpu_seconds": round(cpu_seconds, 2),
        "load": round(os.getloadavg()[0], 1),
        "ms_per_component": round(1000 * seconds / result.metrics["components"], 3),
        "peak_rss_mb": round(peak, 1),
        "r1": result.metrics["r1"],
        "incoherent_components": int(result.metrics["incoherent_components"]),
        "unsat_components": int(result.metrics["unsat_components"]),
        "methods": result.details["methods"],
        "large_rounds": result.details["column_generation_rounds"],
        "conflicts": len(result.conflicts),
    }
    row.update(monolithic_z3(components[:-1] if large else components, baseline_timeout))
    if row.get("z3_seconds"):
        row["z3_over_ours"] = round(row["z3_seconds"] / seconds, 1)
    return row


def monolithic_z3(components, timeout: float) -> dict:
    """One z3 Optimize minimising sum |q - p| over every small component's worlds at once."""
    import z3

    from consistency.coherence import enumerate_worlds, payoffs

    start = time.perf_counter()
    optimizer = z3.Optimize()
    optimizer.set("timeout", int(timeout * 1000))
    gaps = []
    for c, component in enumerate(components):
        pay = payoffs(component, enumerate_worlds(component))
        mu = [z3.Real(f"m{c}_{w}") for w in range(pay.hit.shape[1])]
        optimizer.add(*[v >= 0 for v in mu], z3.Sum(mu) == 1)
        for j, target in enumerate(pay.target):
            gap = z3.Real(f"g{c}_{j}")
            q = z3.Sum([mu[w] for w in np.flatnonzero(pay.hit[j])] or [z3.RealVal(0)])
            optimizer.add(gap >= q - z3.RealVal(repr(float(target))), gap >= z3.RealVal(repr(float(target))) - q)
            gaps.append(gap)
        if time.perf_counter() - start > timeout:
            return {"z3_seconds": None, "z3_note": f"building alone passed {timeout:.0f} s"}
    objective = optimizer.minimize(z3.Sum(gaps))
    status = optimizer.check()
    seconds = time.perf_counter() - start
    if status != z3.sat:
        return {"z3_seconds": None, "z3_note": f"no answer within {timeout:.0f} s ({status})"}
    value = objective.value()
    return {"z3_seconds": round(seconds, 2), "z3_r1_small": float(value.numerator_as_long()) / float(value.denominator_as_long())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--baseline-timeout", type=float, default=120.0)
    parser.add_argument("--no-large", dest="large", action="store_false", help="leave out the 500-proposition component")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size here
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.baseline_timeout, args.large)))
        return
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    rows = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--baseline-timeout", str(args.baseline_timeout)]
            + ([] if args.large else ["--no-large"]),
            capture_output=True, text=True, check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print("| propositions | components | logic check (s) | CPU (s) | load | ms / component | peak RSS MB | column-generation rounds | monolithic z3 (s) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        z3_cell = r["z3_seconds"] if r.get("z3_seconds") else r.get("z3_note", "-")
        print(
            f"| {r['propositions']:,} | {r['components']:,} | {r['seconds']} | {r['cpu_seconds']} | {r['load']} | {r['ms_per_component']} | "
            f"{r['peak_rss_mb']} | {', '.join(map(str, r['large_rounds'])) or '-'} | {z3_cell} | {r.get('z3_over_ours', '-')} |"
        )


if __name__ == "__main__":
    main()
