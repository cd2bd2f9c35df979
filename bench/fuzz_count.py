"""Count how many fuzzed inputs of each kind crash the loaders (a crash: anything but a clean
``UserError``, or for options anything but exit 0 / exit 2 with an ``error:`` line).

    PYTHONPATH=$PWD python bench/fuzz_count.py [--examples 400] [--seed 0]

Prints, per input kind, the inputs tried, the crashing inputs, and each distinct crash site
(exception type and innermost project frame). Uses the strategies of tests/fuzz_inputs.py.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path[0:1] = [str(ROOT), str(ROOT / "tests")]  # not bench/, whose probes.py would hide the probes package

import fuzz_inputs as fz  # noqa: E402  (after the sys.path set-up above)

from consistency.errors import UserError  # noqa: E402


def _site(error: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/consistency/" in f.filename or "/reports/" in f.filename or "/checks/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def count(kind: str, strategy, runner, examples: int, seed_value: int) -> tuple[int, int, Counter]:
    tried, crashes, sites = 0, 0, Counter()

    @seed(seed_value)
    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def probe(value):
        nonlocal tried, crashes
        tried += 1
        try:
            outcome = runner(value)
        except UserError:
            return
        except RecursionError as error:  # caught before Python prints its thousand frames
            crashes += 1
            sites[_site(error)] += 1
            return
        except Exception as error:  # noqa: BLE001 -- counting every crash is the point
            crashes += 1
            sites[_site(error)] += 1
            return
        if kind == "options" and not fz.clean_exit(*outcome):
            crashes += 1
            sites[f"exit {outcome[0]}: {outcome[1].strip().splitlines()[-1][:80] if outcome[1].strip() else ''}"] += 1

    probe()
    return tried, crashes, sites


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="suites,formulas,csv,answers,results,options")
    args = parser.parse_args()
    from test_report import results_fixture

    kinds = {
        "suites": (fz.suite_files, fz.run_suite_file),
        "formulas": (fz.formula_texts, fz.run_formula),
        "csv": (fz.csv_files(), fz.run_csv_file),
        "answers": (fz.answer_files, fz.run_answers_file),
        "results": (fz.results_files(results_fixture(4)), fz.run_results_file),
        "options": (fz.option_sets(), lambda pair: fz.run_options(*pair)),
    }
    total_tried = total_crashes = 0
    for kind in args.kinds.split(","):
        tried, crashes, sites = count(kind, *kinds[kind], args.examples, args.seed)
        total_tried, total_crashes = total_tried + tried, total_crashes + crashes
        print(f"{kind}: {tried} inputs, {crashes} crashes, {len(sites)} distinct crash sites", flush=True)
        for site, n in sites.most_common():
            print(f"    {n:5d}  {site}")
    print(f"total: {total_tried} inputs, {total_crashes} crashes")


if __name__ == "__main__":
    main()
