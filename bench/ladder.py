"""Benchmark the liar-capability ladder: a full audit against the same audit with --no-ladder.

Per bundled organism, two audits run side by side in one process, each from a fresh run
directory (elicitation included, no cache shared): the default audit, and the same with the
ladder switched off. The ratio is full / no-ladder wall time (target <= 1.5). With ``--out``
each organism's two results.json files are kept there, to compare bars and matrices across
code versions (``--compare DIR`` does that against an earlier ``--out``).

    python bench/ladder.py                              # every bundled organism
    python bench/ladder.py --organisms consistent-liar --out /tmp/after
    python bench/ladder.py --out /tmp/after --compare /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# measure the checkout this file is in, not an installed copy elsewhere
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ORGANISMS = ("honest", "naive-liar", "consistent-liar")
# What must not change when only the ladder's speed does: the bar (thresholds, matrix, caught
# rungs, coordination) and each check's metrics and claim scores
COMPARED_CHECK_FIELDS = ("metrics", "claim_scores", "skipped")


def audit(organism: str, out: Path, ladder: bool) -> tuple[float, dict]:
    from consistency.audit import run_audit
    from consistency.config import AuditConfig

    config = AuditConfig(model=f"organism:{organism}", out=str(out), ladder=ladder, report=False)
    start = time.perf_counter()
    results = run_audit(config, log=lambda _: None, progress=False)
    seconds = time.perf_counter() - start
    return seconds, json.loads(results.model_dump_json())


def comparable(results: dict) -> dict:
    """The parts compared across code versions (timings and the run's own details left out)."""
    bar = {k: v for k, v in (results.get("bar") or {}).items() if k != "reruns"}
    checks = {name: {k: result.get(k) for k in COMPARED_CHECK_FIELDS}
              for name, result in (results.get("checks") or {}).items()}
    return {"bar": bar, "checks": checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organisms", nargs="+", default=list(ORGANISMS), choices=ORGANISMS)
    parser.add_argument("--out", type=Path, help="keep each audit's results.json here")
    parser.add_argument("--compare", type=Path, help="an earlier --out: report whether the results are identical")
    args = parser.parse_args()
    rows = []
    for organism in args.organisms:
        with tempfile.TemporaryDirectory() as scratch:
            plain_s, plain = audit(organism, Path(scratch) / "no-ladder", ladder=False)
            full_s, full = audit(organism, Path(scratch) / "full", ladder=True)
        ladder_s = full["timings"]["aggregate_s"] - plain["timings"]["aggregate_s"]
        row = {
            "organism": organism,
            "no_ladder_s": round(plain_s, 1),
            "full_s": round(full_s, 1),
            "ratio": round(full_s / plain_s, 2),
            # each audit's own stages: elicitation (the model's forward passes) dominates both and
            # varies most between the two runs on a shared machine
            "elicit_s": [round(plain["timings"]["elicit_s"], 1), round(full["timings"]["elicit_s"], 1)],
            "checks_s": [round(sum(plain["timings"]["checks_s"].values()), 1), round(sum(full["timings"]["checks_s"].values()), 1)],
            "ladder_s": round(ladder_s, 1),
            # what the ladder adds to the no-ladder audit, its elicitation included: the ratio
            # with the elicitation's run-to-run variation taken out
            "ratio_same_elicitation": round((plain_s + ladder_s) / plain_s, 2),
            "load": round(os.getloadavg()[0], 1),
            "bar": full["bar"].get("level_name"),
            "reruns": full["bar"].get("reruns"),
        }
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, results in (("full", full), ("no-ladder", plain)):
                (args.out / f"{organism}.{name}.json").write_text(json.dumps(comparable(results), sort_keys=True))
        if args.compare:
            row["identical"] = all(
                comparable(json.loads((args.compare / f"{organism}.{name}.json").read_text()))
                == json.loads(json.dumps(comparable(results), sort_keys=True))
                for name, results in (("full", full), ("no-ladder", plain))
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    worst = max(row["ratio"] for row in rows)
    print(f"worst full / no-ladder ratio: {worst:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
