"""Benchmark: claims per second of the elicitation engine against a naive batch-size-1 loop.

Both answer the same claims (prompts of 32-64 tokens) with the same model and capture hidden
states at the same layers; they run side by side in one process, and the ratio is printed.

    python bench/engine.py                  # CPU: a ~10M-parameter Llama shape, float32
    python bench/engine.py --device cuda    # GPU: a ~1.1B Llama shape (TinyLlama's), bf16, with MFU
    python bench/engine.py --model PATH     # any checkpoint: a directory, a .gguf file, a cached hub id

Without ``--model`` the model is randomly initialised (speed does not depend on the weights'
values) with a real byte-level BPE tokenizer trained on the claims, and written to a temporary
directory so that the engine loads it the way an audit does. With ``--model`` the checkpoint is
loaded as an audit loads it (GGUF included), with its own tokenizer and ``--layers``/``--chat``. The naive loop is what a hand-written extraction
script does: one prompt at a time, ``output_hidden_states=True``, logits at every position.

MFU = 2 * N * tokens / seconds / peak FLOP/s, where N counts the parameters every token
goes through (the decoder blocks; the embedding lookup is no matmul, and the LM head runs
once per claim, so it is added as 2 * vocab * hidden per claim), and tokens are real
(unpadded) tokens, so padding waste counts against it. Attention-score FLOPs (under 1% at
these lengths) are left out.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/engine.py` from anywhere

from consistency.adapters.base import Prompt  # noqa: E402
from consistency.adapters.hf import HFAdapter  # noqa: E402
from consistency.engine import elicit  # noqa: E402
from consistency.suite import Proposition, Query, Suite  # noqa: E402
from tests.tiny_models import build_tokenizer  # noqa: E402

H100_BF16_DENSE = 989e12
# (hidden, intermediate, layers, heads, kv heads, vocab)
SHAPES = {
    "tiny": (64, 128, 4, 4, 2, 2048),  # for checking that a benchmark runs end to end
    "cpu": (256, 768, 10, 8, 8, 2048),  # ~9.6M parameters
    "cuda": (2048, 5632, 22, 32, 4, 32000),  # TinyLlama-1.1B
    "8b": (4096, 14336, 32, 32, 8, 128256),  # Llama-3-8B
}
SHAPES["1.1b"] = SHAPES["cuda"]
MIN_TOKENS, MAX_TOKENS = 32, 64

SUBJECTS = ["the old bridge", "a red fox", "the council", "every river", "the northern city", "a small bakery",
            "the museum", "a famous painter", "the eastern harbour", "the school choir", "a wooden boat"]
VERBS = ["was built", "was seen", "was founded", "was painted", "was moved", "was praised", "was sold"]
PLACES = ["near the lake", "in the valley", "by the sea", "on the hill", "across the border", "beside the station"]
TIMES = ["in the spring of 1843", "during a long winter", "after the second war", "before the great fire",
         "in the same year as the first railway", "at the end of the last century"]
DETAILS = ["with a roof of green copper", "under the watch of three old guards", "by a crew of forty workers",
           "without any help from the capital", "despite the heavy rain that year"]
REASONS = ["because the mayor asked for it", "although nobody expected it", "so that the children could play",
           "while the market was still open", "after a vote of the whole town", "for reasons that remain unclear"]


def make_statements(n: int, rng: random.Random) -> list[str]:
    """Claims built from random clauses; lengths vary so that batches need padding."""
    out = []
    for _ in range(n):
        parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(PLACES), rng.choice(TIMES)]
        parts += rng.sample(DETAILS, rng.randint(0, 2)) + rng.sample(REASONS, rng.randint(1, 3))
        out.append(" ".join(parts))
    return out


def build_model(directory: Path, device: str, statements: list[str], shape: str | None = None) -> int:
    """Write a random-init Llama of ``shape`` (default: the device's) and a BPE tokenizer; return N (see above)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, intermediate, layers, heads, kv_heads, vocab = SHAPES[shape or device]
    corpus = [f"Question: Is it true that {s}?\nAnswer: {('Yes', 'No')[i % 2]}" for i, s in enumerate(statements)]
    tokenizer = build_tokenizer(directory, corpus, vocab_size=min(vocab, 2048))
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    # Built on the target device in the target dtype: a 1.1B CPU init in float32 would take
    # longer than the benchmark, and an 8B one in float32 would need 32 GB.
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default_dtype)
    model.save_pretrained(str(directory))
    n_body = sum(p.numel() for p in model.model.layers.parameters())
    del model
    if device == "cuda":
        torch.cuda.empty_cache()  # the adapter loads its own copy from the directory
    return n_body


def claims(adapter: HFAdapter, n: int, seed: int, min_tokens: int = MIN_TOKENS, max_tokens: int = MAX_TOKENS) -> list[Query]:
    """``n`` claims whose prompts have ``min_tokens``-``max_tokens`` tokens (default 32-64)."""
    rng = random.Random(seed)
    kept: dict[str, None] = {}  # distinct claims: the engine would deduplicate repeats
    while len(kept) < n:
        batch = make_statements(4 * n, rng)
        suite = Suite("bench", {f"s{i}": Proposition(f"s{i}", text) for i, text in enumerate(batch)})
        prompts = [suite.query(pid).prompt for pid in suite.propositions]
        lengths = [len(ids) for ids in adapter.tokenizer(prompts)["input_ids"]]
        kept.update((text, None) for text, length in zip(batch, lengths) if min_tokens <= length <= max_tokens)
    suite = Suite("bench", {f"s{i}": Proposition(f"s{i}", text) for i, text in enumerate(list(kept)[:n])})
    return [suite.query(pid) for pid in suite.propositions]


def naive(adapter: HFAdapter, queries: list[Query]) -> list[float]:
    """One prompt at a time, every layer's hidden states and every position's logits."""
    model, layers, out = adapter.model, list(adapter.layers), []
    with torch.inference_mode():
        for query in queries:
            # The text the model reads: with --chat on, the question inside the chat template.
            text, statement_end = adapter.render(Prompt(query.prompt, query.statement_end))
            encoding = adapter.tokenizer(text, return_tensors="pt", return_offsets_mapping=True,
                                         add_special_tokens=not adapter.chat)
            offsets = encoding.pop("offset_mapping")[0].tolist()
            statement = max(i for i, (a, b) in enumerate(offsets) if b > a and a < statement_end)
            output = model(**encoding.to(adapter.device), output_hidden_states=True)
            logits = output.logits[0, -1].float()
            p_yes = logits[adapter.yes_ids].logsumexp(-1) - logits[adapter.no_ids].logsumexp(-1)
            states = torch.stack([output.hidden_states[layer][0, [-1, statement]] for layer in layers])
            states.float().cpu().numpy()
            out.append(torch.sigmoid(p_yes).item())
    return out


def timed(fn, device: str):
    """``fn()``, its wall-clock seconds and the process's CPU seconds (all threads)."""
    if device == "cuda":
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start, time.process_time() - cpu_start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--claims", type=int, help="claims for the engine (default: 512 on CPU, 16384 on GPU)")
    parser.add_argument("--naive-claims", type=int, help="claims for the naive loop (default: 256)")
    parser.add_argument("--batch-size", default="auto", help="engine batch size: auto or an integer")
    parser.add_argument("--peak-flops", type=float, help=f"peak FLOP/s for MFU (GPU default: {H100_BF16_DENSE:.0e}, H100 SXM bf16 dense)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved engine/naive rounds (default: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="a checkpoint to measure instead of the random-init shape")
    parser.add_argument("--layers", default="auto", help="layers to capture: auto or comma-separated numbers")
    parser.add_argument("--chat", choices=["auto", "on", "off"], default="off", help="chat template (with --model)")
    parser.add_argument("--compile", action="store_true", help="the engine's compiled forward (--compile)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    n_engine = args.claims or (16384 if args.device == "cuda" else 512)
    n_naive = min(args.naive_claims or 256, n_engine)
    peak = args.peak_flops or (H100_BF16_DENSE if args.device == "cuda" else None)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)

    layers = "auto" if args.layers == "auto" else [int(x) for x in args.layers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            adapter = HFAdapter(args.model, device=args.device, batch_size=batch_size, layers=layers, chat=args.chat,
                                compile=args.compile)
            n_body = sum(p.numel() for p in adapter._blocks.parameters())
        else:
            statements = make_statements(2000, random.Random(args.seed + 1))
            n_body = build_model(Path(tmp), args.device, statements)
            adapter = HFAdapter(tmp, device=args.device, batch_size=batch_size, layers=layers, compile=args.compile)
        queries = claims(adapter, n_engine, args.seed)
        config = adapter.model.config
        tokens = [len(ids) for ids in adapter.tokenizer([q.prompt for q in queries])["input_ids"]]
        n_total = sum(p.numel() for p in adapter.model.parameters())
        where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} threads"
        print(f"device {args.device} ({where}), dtype {adapter.dtype}, {n_total / 1e6:.1f}M parameters "
              f"({n_body / 1e6:.1f}M in decoder blocks), layers captured {list(adapter.layers)}, two sites per claim")
        print(f"claims: {len(queries)} for the engine, {n_naive} for the naive loop; "
              f"tokens per claim {min(tokens)}-{max(tokens)} (mean {np.mean(tokens):.1f})")

        elicit(adapter, queries[:64], hidden_for=queries[:64])  # warm-up: kernels, allocator
        naive(adapter, queries[:4])
        # Interleaved rounds: on a shared machine the load drifts, and alternating the two
        # spreads the drift over both instead of favouring whichever ran first.
        engine_s = naive_s = engine_cpu = naive_cpu = 0.0
        credences: dict[str, float] = {}
        naive_pairs: list[tuple[Query, float]] = []
        for r in range(args.rounds):
            part, naive_part = queries[r :: args.rounds], queries[r : n_naive : args.rounds]
            answers, seconds, cpu = timed(lambda: elicit(adapter, part, hidden_for=part), args.device)  # noqa: B023 (called at once)
            engine_s += seconds
            engine_cpu += cpu
            credences.update(answers.credences)
            p_yes, seconds, cpu = timed(lambda: naive(adapter, naive_part), args.device)  # noqa: B023 (called at once)
            naive_s += seconds
            naive_cpu += cpu
            naive_pairs += zip(naive_part, p_yes)

    engine_rate, naive_rate = len(queries) / engine_s, n_naive / naive_s
    gap = max(abs(credences[q.prompt] - p) for q, p in naive_pairs)
    # On a shared CPU the wall-clock rates fall with other jobs' load; claims per CPU-second
    # (the process's, all threads) hardly do, so both are printed.
    print(f"engine: {engine_rate:10.1f} claims/s  ({engine_s:.2f} s, final batch size {adapter.batch_size}); "
          f"{len(queries) / engine_cpu:.1f} claims per CPU-second")
    print(f"naive:  {naive_rate:10.1f} claims/s  ({naive_s:.2f} s, batch size 1); {n_naive / naive_cpu:.1f} claims per CPU-second")
    print(f"ratio:  {engine_rate / naive_rate:10.1f}x wall, {(len(queries) / engine_cpu) / (n_naive / naive_cpu):.1f}x CPU   "
          f"max |P(yes) engine - naive| = {gap:.2e}")
    if peak:
        head = 2 * config.vocab_size * config.hidden_size
        flops_per_claim = 2 * n_body * float(np.mean(tokens)) + head
        naive_flops = 2 * n_body * float(np.mean(tokens[:n_naive])) + head
        print(f"MFU:    engine {engine_rate * flops_per_claim / peak:.3f}, naive {naive_rate * naive_flops / peak:.3f} "
              f"(peak {peak:.3g} FLOP/s)")


if __name__ == "__main__":
    main()
