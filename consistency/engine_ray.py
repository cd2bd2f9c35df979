"""The Ray backend: one model replica per worker (a GPU each, or CPU cores), on one or many hosts.

:class:`RayAdapterPool` is an :class:`~consistency.adapters.base.Adapter` like any other, so the
engine drives it exactly as it drives a local model: it deduplicates the prompts, skips what
the answer cache holds, and hands the pool one chunk at a time; the pool splits each chunk
across its workers, and the engine writes the chunk's answers and hidden states to the same
cache shards a local audit writes. An interrupted distributed audit therefore resumes like a
local one (from any backend), and only the driver touches the run directory: workers on other
hosts need the checkpoint at the same path, not the run directory.

A chunk is split where the local adapter's own batches would end (its prompts in the adapter's
order, longest in tokens first, cut at multiples of the batch size), so every worker computes
exactly the batches one process would, and the answers are identical to a local audit's.

Ray is imported only when this backend is asked for (``pip install 'consistency[ray]'``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Sequence

from consistency.adapters.base import AdapterError, Prompt, PromptAnswer, ProgressCallback


def _ray() -> Any:
    if importlib.util.find_spec("ray") is None:
        raise AdapterError("--backend ray needs Ray: pip install 'consistency[ray]'")
    try:
        import ray
    except ImportError as error:  # installed but broken: a missing dependency, a build for another Python
        raise AdapterError(f"--backend ray: Ray is installed but cannot be imported ({error}); "
                           "reinstall it with: pip install --force-reinstall 'consistency[ray]'") from None
    return ray


class _Replica:
    """One model replica inside a Ray worker (wrapped by ``ray.remote`` in :class:`RayAdapterPool`)."""

    def __init__(self, adapter_options: dict[str, Any], threads: int | None):
        import torch

        if threads:
            torch.set_num_threads(threads)  # a CPU worker uses the cores Ray gave it, no more
        self.error: str | None = None
        try:
            from consistency.adapters.hf import HFAdapter

            self.adapter = HFAdapter(**adapter_options)
        except Exception as error:  # reported to the driver as one line, not a remote traceback
            self.error = f"{type(error).__name__}: {error}" if not isinstance(error, AdapterError) else str(error)

    def info(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        a = self.adapter
        return {"fingerprint": a.fingerprint, "layers": tuple(a.layers), "chat": a.chat, "batch_size": a.batch_size,
                "gguf": a.gguf, "gguf_sha256": a.gguf_sha256, "device": str(a.device)}

    def order(self, prompts: list[Prompt]) -> list[int]:
        """The order the adapter batches ``prompts`` in (longest in tokens first)."""
        return self.adapter.batch_order(self.adapter._encode(prompts))

    def answer(self, prompts: list[Prompt]) -> list[PromptAnswer]:
        return self.adapter.answer(prompts)

    def generate(self, texts: list[str], max_new_tokens: int) -> list[str]:
        return self.adapter.generate(texts, max_new_tokens)


class RayAdapterPool:
    """The Hugging Face adapter replicated over ``workers`` Ray actors.

    ``adapter_options`` are :class:`~consistency.adapters.hf.HFAdapter`'s keyword arguments.
    With ``address`` None the Ray instance already started in this process is used, or a local
    one is started; otherwise the pool joins the cluster there (``ray start --head`` prints it).
    Each worker takes one GPU when the cluster has GPUs, else ``cpus_per_worker`` cores.
    """

    supports_hidden = True

    def __init__(
        self,
        adapter_options: dict[str, Any],
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: int = 1,
    ):
        ray = _ray()
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False, include_dashboard=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise AdapterError(f"cannot reach the Ray cluster at {address or 'a local instance'}: {error}") from None
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if workers is None:
            workers = gpus or max(1, int(resources.get("CPU", 1)) // cpus_per_worker)
        if workers < 1:
            raise AdapterError(f"the Ray pool needs at least one worker, got {workers}")
        if gpus:
            remote = ray.remote(num_gpus=1, num_cpus=1)(_Replica)
            threads = None
        else:
            remote = ray.remote(num_cpus=cpus_per_worker)(_Replica)
            threads = cpus_per_worker
        self._ray = ray
        self.name = str(adapter_options.get("path_or_id", ""))
        self.workers = [remote.remote(adapter_options, threads) for _ in range(workers)]
        infos = self._get([w.info.remote() for w in self.workers])
        failed = next((i["error"] for i in infos if "error" in i), None)
        if failed:
            self.close()
            raise AdapterError(f"a Ray worker could not load {self.name}: {failed}")
        if len({i["fingerprint"] for i in infos}) > 1:
            self.close()
            raise AdapterError(f"the Ray workers loaded different models for {self.name} (different files per host?)")
        info = infos[0]
        self.fingerprint: str = info["fingerprint"]
        self.layers: tuple[int, ...] = info["layers"]
        self.chat: bool = info["chat"]
        self.batch_size: int = info["batch_size"]
        self.gguf: Path | None = info["gguf"]
        self.gguf_sha256: str | None = info["gguf_sha256"]
        self.devices = [i["device"] for i in infos]

    def answer(self, prompts: Sequence[Prompt], progress: ProgressCallback | None = None) -> list[PromptAnswer]:
        if not prompts:
            return []
        prompts = list(prompts)
        order = self._get(self.workers[0].order.remote(prompts))
        pieces = _split(order, self.batch_size, len(self.workers))
        futures = {
            worker.answer.remote([prompts[i] for i in piece]): piece for worker, piece in zip(self.workers, pieces)
        }
        out: list[PromptAnswer | None] = [None] * len(prompts)
        pending = list(futures)
        while pending:
            done, pending = self._ray.wait(pending, num_returns=1)
            piece = futures[done[0]]
            for i, answer in zip(piece, self._get(done[0])):
                out[i] = answer
            if progress:
                progress(len(piece))
        return out  # type: ignore[return-value]

    def generate(self, texts: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        texts = list(texts)
        pieces = _split(list(range(len(texts))), self.batch_size, len(self.workers))
        futures = [w.generate.remote([texts[i] for i in p], max_new_tokens) for w, p in zip(self.workers, pieces)]
        return [text for piece in self._get(futures) for text in piece]

    def close(self) -> None:
        """Stop the workers (the models go with them); the Ray instance stays up."""
        for worker in self.workers:
            self._ray.kill(worker)
        self.workers = []

    def _get(self, refs: Any) -> Any:
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayError as error:
            lines = [line for line in str(error).strip().splitlines() if line.strip()]
            raise AdapterError(f"a Ray worker failed: {lines[-1] if lines else type(error).__name__}") from None


def _split(order: list[int], batch_size: int, workers: int) -> list[list[int]]:
    """``order`` cut into at most ``workers`` contiguous pieces of whole batches, as even as can be.

    Each piece is batched by its worker exactly as one process would batch the whole list,
    because pieces start at multiples of ``batch_size``.
    """
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    per_worker, extra = divmod(len(batches), workers)
    pieces, start = [], 0
    for w in range(workers):
        count = per_worker + (w < extra)
        if count:
            pieces.append([i for batch in batches[start : start + count] for i in batch])
        start += count
    return pieces
