"""Benchmark: peak memory (RSS) of elicitation + the probe check against the number of claims.

For each size a fresh subprocess builds a suite of that many claims (half trusted with truth
labels, half audited), elicits P(yes) and hidden states with a tiny Llama into an answer cache,
and runs the probe check (a layer sweep over every captured layer, with an audit's 1000
bootstrap resamples unless ``--n-boot`` says otherwise). It reports its peak RSS
(``resource.getrusage``) and the peak's growth over the RSS it had before eliciting (imports,
the loaded model and the suite's claims and queries), beside the size of the hidden states the audit keeps
(prompts x sites x layers x hidden size x 4 bytes): memory flat in the number of claims means
the growth stays far below that.

    python bench/memory.py                          # 1k, 10k and 100k claims
    python bench/memory.py --sizes 1000 10000       # fewer sizes

The model is randomly initialised (memory does not depend on the weights' values) with a
byte-level BPE tokenizer, written to a temporary directory and loaded as an audit loads it;
nothing is downloaded. To compare with another checkout, run this file from inside it (the
bench imports the package next to it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/memory.py` from anywhere

SITES = 2  # the last token and the statement's last token


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build_model(directory: Path, hidden_size: int, blocks: int) -> None:
    from tests.tiny_models import build_tiny_llama

    corpus = [f"Question: Is it true that item {i} is red?\nAnswer: {('Yes', 'No')[i % 2]}" for i in range(200)]
    build_tiny_llama(directory, hidden_size=hidden_size, n_layers=blocks, n_heads=4, n_kv_heads=2,
                     intermediate_size=2 * hidden_size, corpus=corpus, tokenizer_vocab_size=600)


def measure(model: str, n_claims: int, scratch: Path, n_boot: int) -> dict:
    """Elicit and probe ``n_claims`` claims in this process; the figures as a dict."""
    from checks.base import RunContext
    from checks.probe import ProbeCheck
    from consistency.adapters.hf import HFAdapter
    from consistency.cache import AnswerCache
    from consistency.engine import elicit
    from consistency.suite import Proposition, Suite

    adapter = HFAdapter(model, device="cpu")
    # A claim's truth follows its colour (the statement's last word) but for every tenth claim:
    # the probe reads it above chance at every layer and runs to the end, as on a model that
    # knows its facts (truth the random model cannot read made the check skip, and its results
    # and their memory went unmeasured).
    props = {
        f"c{i}": Proposition(f"c{i}", f"item {i} is {('red', 'blue', 'green')[i % 3]}",
                             truth=(i % 3 == 0) != (i % 10 == 0), split="train" if i % 2 == 0 else "test")
        for i in range(n_claims)
    }
    suite = Suite("memory", props)
    check = ProbeCheck(method="mass-mean", n_boot=n_boot)
    queries = list(check.queries(suite))
    baseline = peak_rss_mb()
    started = time.perf_counter()
    cache = AnswerCache(scratch / "cache", adapter.fingerprint)
    answers = elicit(adapter, queries, queries, cache=cache)
    elicited = time.perf_counter()
    after_elicit = peak_rss_mb()
    result = check.run(suite, answers, RunContext(seed=0, layers=tuple(answers.layers)))
    kept = len(answers.hidden.get("statement_end", {})) * SITES * len(answers.layers) * adapter.model.config.hidden_size * 4
    peak = peak_rss_mb()
    return {
        "claims": n_claims,
        "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak, 1),
        "growth_mb": round(peak - baseline, 1),
        "elicit_growth_mb": round(after_elicit - baseline, 1),
        "hidden_kept_mb": round(kept / 2**20, 1),
        "elicit_s": round(elicited - started, 1),
        "probe_s": round(time.perf_counter() - elicited, 1),
        "probe_auroc": result.metrics.get("probe_auroc"),
        "conflicts": len(result.conflicts),
        "skipped": result.skipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=8, help="decoder blocks (every layer is captured up to 8)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine, threads waiting for a busy core made "
                        "the tiny model's forward 25x slower)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (the probe check's default)")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "CLAIMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory() as scratch:
            print(json.dumps(measure(args.child[0], int(args.child[1]), Path(scratch), args.n_boot)))
        return

    with tempfile.TemporaryDirectory() as model:
        build_model(Path(model), args.hidden_size, args.blocks)
        print(f"tiny Llama: hidden size {args.hidden_size}, {args.blocks} blocks; one subprocess per size")
        print(f"{'claims':>8} {'hidden kept MB':>15} {'baseline MB':>12} {'peak MB':>8} {'growth MB':>10} "
              f"{'of which elicit':>16} {'elicit s':>9} {'probe s':>8}")
        rows = []
        for n in args.sizes:
            # A fresh process per size: ru_maxrss is a high-water mark, never lowered.
            run = subprocess.run([sys.executable, __file__, "--child", model, str(n), "--threads", str(args.threads),
                                  "--n-boot", str(args.n_boot)], capture_output=True, text=True, check=False)
            if run.returncode:
                sys.exit(f"error: the {n}-claim run failed:\n{run.stderr[-2000:]}")
            row = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"{row['claims']:>8} {row['hidden_kept_mb']:>15} {row['baseline_mb']:>12} {row['peak_mb']:>8} "
                  f"{row['growth_mb']:>10} {row['elicit_growth_mb']:>16} {row['elicit_s']:>9} {row['probe_s']:>8}  "
                  f"probe_auroc={row['probe_auroc']} conflicts={row['conflicts']} skipped={row['skipped']}", flush=True)
            rows.append(row)
        # What the issue asks: the growth's own growth between sizes against the hidden states
        # added (flat memory: far below 1; everything-in-memory: above 1).
        for small, large in zip(rows, rows[1:]):
            added = large["growth_mb"] - small["growth_mb"]
            kept = large["hidden_kept_mb"] - small["hidden_kept_mb"]
            print(f"{small['claims']} -> {large['claims']} claims: growth +{added:.1f} MB for +{kept:.1f} MB of hidden "
                  f"states kept ({added / kept:.2f}x)")


if __name__ == "__main__":
    main()
