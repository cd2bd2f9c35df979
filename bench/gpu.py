"""Benchmark: GPU elicitation with and without the compiled forward (issue 14, item 2).

For each model shape (random init: speed does not depend on the weights' values), side by side
in one process: claims/s and MFU of the engine uncompiled and compiled (``--compile``: a graph
per length bucket), the naive batch-size-1 loop's claims/s and the engine's ratio to it, and the
largest |P(yes) compiled - uncompiled| in bf16 and in float32. Hidden states are captured at the
adapter's auto layers (six) in every run, as in an audit.

    python bench/gpu.py                       # CUDA: the 1.1B (TinyLlama) and 8B (Llama-3) shapes
    python bench/gpu.py --tiny                # CPU, a tiny shape: checks that the benchmark runs

MFU counts real (unpadded) tokens through the decoder blocks, plus the LM head once per claim
(see bench/engine.py); bucket padding therefore counts against the compiled path. The compile
time (the first pass over the claims, every bucket's graph built) is printed apart and not in
claims/s: an audit pays it once per run.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/gpu.py` from anywhere

from bench.engine import H100_BF16_DENSE, build_model, claims, make_statements, naive, timed  # noqa: E402
from consistency.adapters.hf import HFAdapter, bucket_width  # noqa: E402
from consistency.engine import elicit  # noqa: E402
from consistency.suite import Query  # noqa: E402

# Prompts of 33-64 tokens fall into two length buckets (48, 64): two graphs per shape to compile.
MIN_TOKENS, MAX_TOKENS = 33, 64


def p_yes(adapter: HFAdapter, queries: list[Query]) -> np.ndarray:
    answers = elicit(adapter, queries, hidden_for=queries)
    return np.array([answers.credences[q.prompt] for q in queries])


def release(*adapters: HFAdapter) -> None:
    """Free the adapters' weights (an 8B model twice over does not leave room for the next)."""
    for adapter in adapters:
        adapter.model = adapter._blocks = adapter.compiled = None  # type: ignore[assignment]
    torch._dynamo.reset()  # compiled graphs hold the weights too
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure_shape(shape: str, args: argparse.Namespace, peak: float | None) -> None:
    device = args.device
    with tempfile.TemporaryDirectory() as tmp:
        statements = make_statements(2000, random.Random(1))
        start = time.perf_counter()
        n_body = build_model(Path(tmp), device, statements, shape=shape)
        eager = HFAdapter(tmp, device=device, batch_size=args.batch_size)
        compiled = HFAdapter(tmp, device=device, batch_size=args.batch_size, compile=True)
        queries = claims(eager, args.claims, seed=0, min_tokens=MIN_TOKENS, max_tokens=MAX_TOKENS)
        tokens = [len(ids) for ids in eager.tokenizer([q.prompt for q in queries])["input_ids"]]
        config = eager.model.config
        flops_per_claim = 2 * n_body * float(np.mean(tokens)) + 2 * config.vocab_size * config.hidden_size
        n_params = sum(p.numel() for p in eager.model.parameters())
        print(f"\n== shape {shape}: {n_params / 1e6:,.1f}M parameters ({n_body / 1e6:,.1f}M in decoder blocks), "
              f"{eager.dtype}, layers captured {list(eager.layers)}, batch size {eager.batch_size}; "
              f"{len(queries)} claims of {min(tokens)}-{max(tokens)} tokens (mean {np.mean(tokens):.1f}), "
              f"buckets {sorted({bucket_width(t) for t in tokens})}; built in {time.perf_counter() - start:.0f} s",
              flush=True)

        p_eager = p_yes(eager, queries[: args.batch_size])  # warm-up: kernels, allocator
        _, compile_s, _ = timed(lambda: p_yes(compiled, queries), device)  # builds every bucket's graph
        print(f"compile: {compile_s:.1f} s for {len(compiled.compiled_shapes)} graphs {sorted(compiled.compiled_shapes)}",
              flush=True)
        rates = {}
        # Interleaved rounds: drift in clocks or load spreads over both paths.
        seconds = {"uncompiled": 0.0, "compiled": 0.0}
        bf16: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, adapter in (("uncompiled", eager), ("compiled", compiled)):
                bf16[name], wall, _ = timed(lambda a=adapter: p_yes(a, queries), device)  # type: ignore[misc]
                seconds[name] += wall
        for name, total in seconds.items():
            rates[name] = args.rounds * len(queries) / total
            mfu = f", MFU {rates[name] * flops_per_claim / peak:.3f}" if peak else ""
            print(f"{name:>10}: {rates[name]:10.1f} claims/s{mfu}", flush=True)
        naive_queries = queries[: args.naive_claims]
        naive(eager, naive_queries[:2])
        _, naive_s, _ = timed(lambda: naive(eager, naive_queries), device)
        naive_rate = len(naive_queries) / naive_s
        naive_flops = 2 * n_body * float(np.mean(tokens[: len(naive_queries)])) + 2 * config.vocab_size * config.hidden_size
        mfu = f", MFU {naive_rate * naive_flops / peak:.3f}" if peak else ""
        print(f"{'naive':>10}: {naive_rate:10.1f} claims/s (batch size 1, {len(naive_queries)} claims){mfu}")
        print(f"{'ratio':>10}: uncompiled {rates['uncompiled'] / naive_rate:.1f}x, compiled {rates['compiled'] / naive_rate:.1f}x "
              f"the naive loop; compiled {rates['compiled'] / rates['uncompiled']:.2f}x uncompiled")
        target = "1e-2" if eager.dtype == torch.bfloat16 else "1e-4"
        print(f"max |P(yes) compiled - uncompiled|, {eager.dtype}: {np.abs(bf16['compiled'] - bf16['uncompiled']).max():.2e}"
              f" over {len(queries)} claims (target {target}); warm-up vs timed uncompiled: "
              f"{np.abs(p_eager - bf16['uncompiled'][: len(p_eager)]).max():.2e}", flush=True)
        release(eager, compiled)
        if shape in args.float32_shapes:
            subset = queries[: args.float32_claims]
            eager32 = HFAdapter(tmp, device=device, dtype="float32", batch_size=args.batch_size)
            compiled32 = HFAdapter(tmp, device=device, dtype="float32", batch_size=args.batch_size, compile=True)
            gap = np.abs(p_yes(compiled32, subset) - p_yes(eager32, subset)).max()
            print(f"max |P(yes) compiled - uncompiled|, torch.float32: {gap:.2e} over {len(subset)} claims (target 1e-4)")
            release(eager32, compiled32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny shape on the CPU, few claims: that it runs")
    parser.add_argument("--shapes", default="1.1b,8b", help="comma-separated shapes of bench/engine.py (default: 1.1b,8b)")
    parser.add_argument("--claims", type=int, default=8192, help="claims per timed pass (default: 8192)")
    parser.add_argument("--naive-claims", type=int, default=128, help="claims for the naive loop (default: 128)")
    parser.add_argument("--batch-size", type=int, default=1024, help="engine batch size (default: 1024)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timed passes per path (default: 2)")
    parser.add_argument("--float32-shapes", default="1.1b", help="shapes whose float32 P(yes) gap is measured")
    parser.add_argument("--float32-claims", type=int, default=2048, help="claims for the float32 gap (default: 2048)")
    parser.add_argument("--peak-flops", type=float, default=H100_BF16_DENSE,
                        help=f"peak FLOP/s for MFU (default {H100_BF16_DENSE:.0e}: H100/H200 SXM bf16 dense)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.device, args.shapes, args.float32_shapes = "cpu", "tiny", "tiny"
        args.claims, args.naive_claims, args.batch_size, args.float32_claims = 48, 8, 16, 48
        torch.set_num_threads(1)  # a tiny model is all per-op overhead; more threads only wait on each other
    else:
        if not torch.cuda.is_available():
            parser.error("torch sees no CUDA device (use --tiny to check the benchmark on the CPU)")
        args.device = "cuda"
    args.float32_shapes = set(args.float32_shapes.split(","))
    peak = args.peak_flops if args.device == "cuda" else None
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {args.device} ({where}), torch {torch.__version__}")
    for shape in args.shapes.split(","):
        measure_shape(shape, args, peak)


if __name__ == "__main__":
    main()
