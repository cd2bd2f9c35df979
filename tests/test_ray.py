"""The Ray backend: a 2-worker local cluster answers exactly as one process does, writes the
same cache, and an audit interrupted on it resumes like a local one.

The cluster tests start Ray themselves (``ray.init(num_cpus=2)``: two CPU workers) and are slow
(worker start-up loads torch and the model in each); they skip when ray is not installed. Each
CPU worker computes with one thread, so the local runs compared with them do too: on a CPU the
last bits of a float32 sum depend on how many threads share it (5 of 72 P(yes) differed at
~2e-7 between 1 and 2 threads, same batches).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time

import numpy as np
import pytest

import consistency.engine_ray as engine_ray
from consistency.adapters.base import AdapterError
from consistency.cache import AnswerCache
from consistency.cli import main
from consistency.engine import elicit, unique_prompts
from consistency.engine_ray import _split
from consistency.suite import Proposition, Suite
from tiny_models import build_tiny_llama


def test_pieces_are_whole_batches_in_order_and_as_even_as_can_be():
    order = [5, 3, 9, 0, 1, 7, 2, 8, 4, 6]
    pieces = _split(order, batch_size=3, workers=2)
    assert [i for piece in pieces for i in piece] == order  # contiguous, nothing lost or repeated
    assert pieces == [[5, 3, 9, 0, 1, 7], [2, 8, 4, 6]]  # 4 batches: 2 + 2, each piece starts on a batch
    assert _split(order[:2], batch_size=3, workers=4) == [[5, 3]]  # fewer batches than workers
    assert _split([], batch_size=3, workers=2) == []


def test_without_ray_the_backend_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(engine_ray.importlib.util, "find_spec", lambda name: None if name == "ray" else real(name))
    with pytest.raises(AdapterError, match=r"--backend ray needs Ray: pip install 'consistency\[ray\]'"):
        engine_ray.RayAdapterPool({"path_or_id": "unused"})


def test_a_ray_that_cannot_be_imported_is_one_line(monkeypatch):
    """Installed but broken (a missing dependency of its own): one line, not an ImportError."""
    monkeypatch.setitem(sys.modules, "ray", None)  # what import then raises: ImportError
    real = importlib.util.find_spec
    monkeypatch.setattr(engine_ray.importlib.util, "find_spec", lambda name: object() if name == "ray" else real(name))
    with pytest.raises(AdapterError, match=r"--backend ray: Ray is installed but cannot be imported \("):
        engine_ray.RayAdapterPool({"path_or_id": "unused"})


# ----- on a local 2-worker cluster ------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    import torch

    ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install 'consistency[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker (see the module's docstring)
    yield ray
    torch.set_num_threads(threads)
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), n_layers=2)


def claims_suite(n: int = 24) -> Suite:
    colours = ("red", "blue", "green")
    props = {f"p{i}": Proposition(f"p{i}", f"item {i} is {colours[i % 3]}", truth=i % 2 == 0,
                                  split="train" if i % 2 == 0 else "test") for i in range(n)}
    return Suite("ray", props)


class Interrupting:
    """Passes chunks to ``inner`` and raises KeyboardInterrupt (a user's Ctrl-C) before chunk ``at``."""

    def __init__(self, inner, at: int):
        self.inner, self.at, self.chunks = inner, at, 0
        self.fingerprint, self.layers, self.supports_hidden = inner.fingerprint, inner.layers, True

    def answer(self, prompts, progress=None):
        if self.chunks == self.at:
            raise KeyboardInterrupt
        self.chunks += 1
        return self.inner.answer(prompts, progress)


@pytest.mark.slow
def test_a_two_worker_pool_answers_as_one_process_and_an_interrupted_run_resumes_locally(cluster, tiny_model, tmp_path):
    from consistency.adapters.hf import HFAdapter

    started = time.perf_counter()
    options = {"path_or_id": str(tiny_model), "device": "cpu", "batch_size": 4}
    local = HFAdapter(**options)
    pool = engine_ray.RayAdapterPool(options, workers=2)
    try:
        assert pool.fingerprint == local.fingerprint and pool.layers == local.layers and len(pool.devices) == 2
        suite = claims_suite()
        queries = [suite.query(pid, 0, f.name) for pid in suite.propositions for f in suite.framings]
        hidden_for = queries[::2]
        # chunks of 10 prompts: 3 batches each, split 2 + 1 over the workers
        reference = elicit(local, queries, hidden_for, chunk_size=10)
        distributed = elicit(pool, queries, hidden_for, chunk_size=10)
        assert distributed.credences == reference.credences  # bit for bit: the same batches
        for site, table in reference.hidden.items():
            assert distributed.hidden[site].keys() == table.keys()
            for prompt, states in table.items():
                np.testing.assert_array_equal(distributed.hidden[site][prompt], states)

        # Interrupted after two chunks on the pool; a local run on the same cache does the rest.
        cache_dir = tmp_path / "cache"
        with pytest.raises(KeyboardInterrupt):
            elicit(Interrupting(pool, at=2), queries, hidden_for, cache=AnswerCache(cache_dir, pool.fingerprint),
                   chunk_size=10)
        cache = AnswerCache(cache_dir, local.fingerprint)
        n_prompts = len({q.prompt for q in queries})
        assert len(cache) == 20 and len(cache.missing(unique_prompts(queries, hidden_for))) == n_prompts - 20
        resumed = elicit(local, queries, hidden_for, cache=cache, chunk_size=10)
        assert resumed.credences == reference.credences
        for site, table in reference.hidden.items():
            for prompt, states in table.items():
                np.testing.assert_array_equal(resumed.hidden[site][prompt], states)
        # And the texts a critique check generates come back in order, as one process writes them.
        texts = [q.prompt for q in queries[:6]]
        assert pool.generate(texts, 3) == local.generate(texts, 3)
    finally:
        pool.close()
    print(f"ray pool test: {time.perf_counter() - started:.1f} s")


@pytest.mark.slow
def test_an_audit_on_the_ray_backend_gives_the_local_audits_results(cluster, tiny_model, tmp_path):
    started = time.perf_counter()
    common = ["--suite", "builtin:comparisons", "--limit", "8", "--checks", "cross-examination,probe",
              "--device", "cpu", "--batch-size", "4", "--no-ladder", "--no-report", "--quiet"]
    assert main(["audit", str(tiny_model), *common, "--out", str(tmp_path / "local")]) == 0
    assert main(["audit", str(tiny_model), *common, "--out", str(tmp_path / "ray"),
                 "--backend", "ray", "--ray-workers", "2"]) == 0
    local = json.loads((tmp_path / "local" / "results.json").read_text())
    distributed = json.loads((tmp_path / "ray" / "results.json").read_text())
    for key in ("claims", "checks", "stated", "model"):
        assert distributed[key] == local[key], key
    assert distributed["config"]["backend"] == "ray"
    print(f"ray audit test: {time.perf_counter() - started:.1f} s")
