"""Benchmark: a 200-example property test, the claim pool asked once vs asking per example.

Both modes run the same property on the same hypothesis examples (derandomized; generation
only, no shrinking) against the same checkpoint: draw 1-4 structures, run the answer-level
checks (logic, cross-examination, decomposition). Only where the answers come from differs:

    pool         ``ClaimPool.answers``: every prompt the checks need over the whole pool in
                 one batched pass, then each example reads from memory (what
                 ``assert_consistent`` does with drawn ``Claims``);
    per-example  ``engine.elicit`` on each example's own prompts (what a property test that
                 calls the model inside the test body does).

    python bench/property_tests.py --threads 1                           # tiny random Llama
    python bench/property_tests.py --model organism:honest --suite builtin:organism

Reported per mode: wall time, time inside the model, prompts forwarded, forward calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/property_tests.py` from anywhere

import checks  # noqa: E402
from consistency.adapters.hf import HFAdapter  # noqa: E402
from consistency.testing import ClaimPool, ModelRef, claims, run_checks  # noqa: E402
from tests.tiny_models import build_tiny_llama  # noqa: E402

CHECKS = ("logic", "cross-examination", "decomposition")


class Timed:
    """An adapter wrapper that counts forward calls and prompts and times them."""

    def __init__(self, adapter):
        self.adapter, self.calls, self.prompts, self.seconds = adapter, 0, 0, 0.0
        self.fingerprint, self.layers, self.supports_hidden = adapter.fingerprint, adapter.layers, adapter.supports_hidden

    def answer(self, prompts, progress=None):
        start = time.perf_counter()
        out = self.adapter.answer(prompts, progress)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.prompts += len(prompts)
        return out


def run(mode: str, adapter: HFAdapter, pool: ClaimPool, examples: int) -> dict[str, float]:
    model = Timed(adapter)
    check_objects = [checks.get(name) for name in CHECKS]

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(claims(pool))
    def prop(drawn):
        run_checks(model, drawn if mode == "pool" else drawn.suite, check_objects)

    start = time.perf_counter()
    prop()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "model_s": model.seconds, "prompts": model.prompts, "calls": model.calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="checkpoint directory or organism:<kind> (default: a tiny random Llama)")
    parser.add_argument("--suite", default="numbers", help="numbers, builtin:<suite> or a suite file")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--hidden-size", type=int, default=32, help="width of the random Llama built when no --model")
    parser.add_argument("--layers", type=int, default=3, help="depth of the random Llama built when no --model")
    parser.add_argument("--threads", type=int, help="torch CPU threads (on a shared machine, 1 beats contention)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pool = ClaimPool.load(args.suite)
    with tempfile.TemporaryDirectory() as scratch:
        directory = ModelRef(args.model).directory() if args.model else build_tiny_llama(
            Path(scratch) / "tiny", hidden_size=args.hidden_size, n_layers=args.layers,
            intermediate_size=4 * args.hidden_size, n_heads=max(4, args.hidden_size // 64), n_kv_heads=max(2, args.hidden_size // 128),
        )
        adapter = HFAdapter(str(directory), answer_words=pool.suite.answer_words, device=args.device)
        checks.available()  # import the checks (z3, scipy) before any clock starts
        built = f"random Llama (hidden {args.hidden_size}, {args.layers} layers)"
        print(f"model: {args.model or built} on {adapter.device} "
              f"({torch.get_num_threads()} threads); "
              f"claims: {args.suite} ({len(pool)} structures); {args.examples} examples; checks: {', '.join(CHECKS)}")
        rows = {mode: run(mode, adapter, pool, args.examples) for mode in ("pool", "per-example")}
    print(f"{'mode':<12} {'wall s':>8} {'in model s':>11} {'prompts':>8} {'forward calls':>14}")
    for mode, row in rows.items():
        print(f"{mode:<12} {row['wall_s']:>8.1f} {row['model_s']:>11.1f} {row['prompts']:>8} {row['calls']:>14}")
    print(f"speed-up: {rows['per-example']['wall_s'] / rows['pool']['wall_s']:.1f}x")


if __name__ == "__main__":
    main()
