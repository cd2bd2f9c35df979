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
across code versions (``--compare DIR`` does that against an earlier ``--out``).

    python bench/ladder.py                              # every bundled organism
    python bench/ladder.py --organisms consistent-liar --out /tmp/after
    python bench/ladder.py --out /tmp/after --compare /tmp/before
"""

from __future__ import annotations

import argparse
import functools
import json
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organisms", nargs="+", default=list(ORGANISMS), choices=ORGANISMS)
    parser.add_argument("--out", type=Path, help="keep each audit's results.json here")
    parser.add_argument("--compare", type=Path, help="an earlier --out: report whether the results are identical")
    args = parser.parse_args()
    rows = []
    for organism in args.organisms:
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
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, results in (("full", full), ("no-ladder", plain)):
                (args.out / f"{organism}.{name}.json").write_text(json.dumps(comparable(results), sort_keys=True, indent=1))
        if args.compare:
            row["identical"] = all(
                json.loads((args.compare / f"{organism}.{name}.json").read_text())
                == json.loads(json.dumps(comparable(results), sort_keys=True))
                for name, results in (("full", full), ("no-ladder", plain))
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    for key in ("ratio", "ratio_same_elicitation", "ratio_cpu"):
        print(f"worst {key}: {max(row[key] for row in rows):.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
