"""Benchmark the liar-capability ladder: a full audit against the same audit with --no-ladder.

Per bundled organism, two audits run side by side in one process, each from a fresh run
directory (elicitation included, no cache shared): the same audit with the ladder switched off,
then the default audit. Per organism it prints

- ``ratio``: full / no-ladder wall time (target <= 1.5); on a shared machine this mostly
  measures how fast the model's elicitation happened to run in each audit;
- ``ladder_s`` / ``ladder_cpu_s``: the ladder stage alone (``run_ladder``), wall and CPU
  seconds (process time, every thread);
- ``ratio_same_elicitation`` = (no-ladder wall + ladder stage wall) / no-ladder wall: what the
  ladder adds to the no-ladder audit, with the elicitation's run-to-run variation taken out;
- ``ratio_cpu`` = (no-ladder CPU + ladder stage CPU) / no-ladder CPU: the same in CPU seconds,
  which other jobs on the machine disturb least;
- ``load``: the 1-minute load average before and after the organism's two audits.

The target holds on a quiet machine when every organism's ``ratio_same_elicitation`` (and
``ratio``) is <= 1.5. With ``--out`` each organism's two results.json files are kept there
without what differs from run to run (``created``, ``timings``, ``config.out``), to compare
across code versions (``--compare DIR`` does that against an earlier ``--out``: ``identical``
in each row).

The same code's ladder stage varies by about +-25% between runs even on a quiet machine, so one
pair of audits decides little. ``--repeats N`` runs each organism's pair N times, interleaved
(no-ladder, full, no-ladder, full, ...: a slow spell of the machine falls on both kinds), prints
each pair's row as above (with ``repeat``), then a ``summary`` row per organism: the median, min
and max of each ratio and of the ladder stage's seconds over the N pairs (and the load's range). The ``worst`` lines
then read the medians. With ``--out`` the first pair's results are kept; with ``--compare``
every pair is compared.

    python bench/ladder.py                              # every bundled organism, once
    python bench/ladder.py --repeats 5                  # medians of 5 interleaved pairs
    python bench/ladder.py --organisms consistent-liar --out /tmp/after
    python bench/ladder.py --out /tmp/after --compare /tmp/before
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# measure the checkout this file is in, not an installed copy elsewhere
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ORGANISMS = ("honest", "naive-liar", "consistent-liar")


def timed_ladder(spent: dict[str, float]) -> None:
    """Wrap the ladder stage so each call's wall and CPU seconds land in ``spent``."""
    import consistency.ladder

    run_ladder = consistency.ladder.run_ladder
    if getattr(run_ladder, "timed", False):
        run_ladder = run_ladder.__wrapped__

    @functools.wraps(run_ladder)
    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return run_ladder(*args, **kwargs)
        finally:
            spent["wall"] = time.perf_counter() - wall
            spent["cpu"] = time.process_time() - cpu

    timed.timed = True  # type: ignore[attr-defined]
    consistency.ladder.run_ladder = timed  # run_audit imports it from the module at call time


def audit(organism: str, out: Path, ladder: bool) -> tuple[float, float, dict[str, float], dict]:
    """One audit: its wall and CPU seconds, the ladder stage's, and its results.json."""
    from consistency.audit import run_audit
    from consistency.config import AuditConfig

    spent = {"wall": 0.0, "cpu": 0.0}
    timed_ladder(spent)
    config = AuditConfig(model=f"organism:{organism}", out=str(out), ladder=ladder, report=False)
    wall, cpu = time.perf_counter(), time.process_time()
    results = run_audit(config, log=lambda _: None, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, spent, json.loads(results.model_dump_json())


def comparable(results: dict) -> dict:
    """results.json without what differs between two runs of the same audit."""
    kept = {k: v for k, v in results.items() if k not in ("created", "timings")}
    kept["config"] = {k: v for k, v in kept.get("config", {}).items() if k != "out"}
    return kept


RATIOS = ("ratio", "ratio_same_elicitation", "ratio_cpu", "ladder_s", "ladder_cpu_s")


def measure(organism: str, out: Path | None, compare: Path | None) -> dict[str, Any]:
    """One pair of audits of ``organism`` (no-ladder, then full): its row."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        plain_s, plain_cpu, _, plain = audit(organism, Path(scratch) / "no-ladder", ladder=False)
        full_s, full_cpu, ladder, full = audit(organism, Path(scratch) / "full", ladder=True)
    row = {
        "organism": organism,
        "no_ladder_s": round(plain_s, 1),
        "full_s": round(full_s, 1),
        "ratio": round(full_s / plain_s, 2),
        # each audit's own stages: elicitation (the model's forward passes) dominates both and
        # varies most between the two runs on a shared machine
        "elicit_s": [round(plain["timings"]["elicit_s"], 1), round(full["timings"]["elicit_s"], 1)],
        "checks_s": [round(sum(plain["timings"]["checks_s"].values()), 1),
                     round(sum(full["timings"]["checks_s"].values()), 1)],
        "ladder_s": round(ladder["wall"], 2),
        "ladder_cpu_s": round(ladder["cpu"], 2),
        "ratio_same_elicitation": round((plain_s + ladder["wall"]) / plain_s, 2),
        "no_ladder_cpu_s": round(plain_cpu, 1),
        "full_cpu_s": round(full_cpu, 1),
        "ratio_cpu": round((plain_cpu + ladder["cpu"]) / plain_cpu, 2),
        "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "bar": full["bar"].get("level_name"),
        "reruns": full["bar"].get("reruns"),
    }
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for name, results in (("full", full), ("no-ladder", plain)):
            (out / f"{organism}.{name}.json").write_text(json.dumps(comparable(results), sort_keys=True, indent=1))
    if compare:
        row["identical"] = all(
            json.loads((compare / f"{organism}.{name}.json").read_text())
            == json.loads(json.dumps(comparable(results), sort_keys=True))
            for name, results in (("full", full), ("no-ladder", plain))
        )
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One organism's pairs: the median, min and max of each ratio and of the ladder stage."""
    out: dict[str, Any] = {"organism": rows[0]["organism"], "summary": True, "repeats": len(rows)}
    for key in RATIOS:
        values = [row[key] for row in rows]
        out[key] = {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}
    out["load"] = [min(row["load"][0] for row in rows), max(row["load"][1] for row in rows)]
    if any("identical" in row for row in rows):
        out["identical"] = all(row.get("identical", False) for row in rows)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organisms", nargs="+", default=list(ORGANISMS), choices=ORGANISMS)
    parser.add_argument("--out", type=Path, help="keep each audit's results.json here")
    parser.add_argument("--compare", type=Path, help="an earlier --out: report whether the results are identical")
    parser.add_argument("--repeats", type=int, default=1, help="pairs of audits per organism, interleaved (default 1)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    worst: dict[str, float] = {}
    for organism in args.organisms:
        rows = []
        for repeat in range(args.repeats):
            row = measure(organism, args.out if repeat == 0 else None, args.compare)
            rows.append(row)
            print(json.dumps(row if args.repeats == 1 else {"repeat": repeat, **row}), flush=True)
        if args.repeats > 1:
            total = summary(rows)
            print(json.dumps(total), flush=True)
            typical = {key: total[key]["median"] for key in RATIOS}
        else:
            typical = rows[0]
        for key in ("ratio", "ratio_same_elicitation", "ratio_cpu"):
            worst[key] = max(worst.get(key, 0.0), typical[key])
    which = "median " if args.repeats > 1 else ""
    for key, value in worst.items():
        print(f"worst {which}{key}: {value:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
