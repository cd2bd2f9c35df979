"""The elicitation engine: every unique prompt answered once, then packed into Answers.

Checks declare their queries; many share prompts (the same claim in the same framing), so
the engine deduplicates by prompt text first. With an :class:`AnswerCache` it asks the
adapter only for prompts the cache cannot answer, in chunks, writing each chunk to the cache
as soon as it is done: an interrupted run loses at most one chunk, and a re-run with one more
check computes only that check's new prompts. A chunk is a few of the adapter's batches
(:func:`chunk_size_for`), so that the work at stake is a few batches' on any device.

An answer that is not a probability (NaN from a model whose weights or dtype overflow) stops
the audit with one line before it is cached or reaches a check.

Hidden states stream to the cache's shards chunk by chunk and are never gathered in memory:
the returned :class:`Answers` reads them from the shards when a check asks (see
:class:`~consistency.cache.HiddenTable`). Without a cache, more hidden states than one chunk
go to a temporary cache for the same reason; fewer stay in memory, where they are anyway.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from consistency.adapters.base import Adapter, AdapterError, Prompt, PromptAnswer
from consistency.answers import Answers
from consistency.cache import AnswerCache, CacheError
from consistency.memory import release_freed_memory
from consistency.suite import Query

log = logging.getLogger(__name__)

# Prompts per cache write: an interrupted run loses at most one chunk. A chunk is this many of
# the adapter's batches, so that chunking never caps the batch size, and at most
# DEFAULT_CHUNK_SIZE prompts, which bounds the hidden states held in memory before a write. On
# a GPU (auto batch 1024) that is 4096 prompts, seconds of work; on a CPU (auto batch 32) 128,
# where 4096 prompts are many minutes of work that a Ctrl-C or kill -9 would throw away. A Ray
# pool's batch size is its workers' own, so both backends cut the same chunks (and batches).
CHUNK_BATCHES = 4
DEFAULT_CHUNK_SIZE = 4096


def unique_prompts(queries: Iterable[Query], hidden_for: Iterable[Query] = ()) -> list[Prompt]:
    """Deduplicate by prompt text; a prompt wants hidden states if any query for it does."""
    hidden_for = list(hidden_for)
    wants_hidden = {q.prompt for q in hidden_for}
    prompts: dict[str, Prompt] = {}
    for query in [*queries, *hidden_for]:
        if query.prompt not in prompts:
            prompts[query.prompt] = Prompt(query.prompt, query.statement_end, query.prompt in wants_hidden)
    return list(prompts.values())


def elicit(
    adapter: Adapter,
    queries: Iterable[Query],
    hidden_for: Iterable[Query] = (),
    *,
    cache: AnswerCache | None = None,
    progress: bool = False,
    chunk_size: int | None = None,
) -> Answers:
    """Ask ``adapter`` every distinct prompt of ``queries`` (hidden states for ``hidden_for``).

    With ``cache``, cached answers are reused and new ones are written every ``chunk_size``
    prompts (default: :func:`chunk_size_for` the adapter). ``progress`` shows a progress bar
    over the prompts that must be computed.
    """
    if chunk_size is None:
        chunk_size = chunk_size_for(adapter)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if cache is not None and cache.fingerprint != adapter.fingerprint:
        raise CacheError(f"the cache at {cache.path} belongs to another model ({cache.fingerprint})")
    prompts = unique_prompts(queries, hidden_for if adapter.supports_hidden else ())
    store = cache
    if store is None and sum(p.want_hidden for p in prompts) > chunk_size:
        store = AnswerCache.temporary(adapter.fingerprint)
    todo = prompts if store is None else store.missing(prompts)
    log.info("elicit: %d unique prompts, %d cached, %d to compute", len(prompts), len(prompts) - len(todo), len(todo))

    p_yes: dict[str, float] = {}
    held: dict[str, dict[str, np.ndarray]] = {}  # hidden states kept in memory (no store only)
    with tqdm(total=len(todo), disable=not (progress and todo), unit="prompt", desc="eliciting") as bar:
        for chunk in _chunks(_by_length(todo), chunk_size):
            answered = adapter.answer(chunk, progress=bar.update)
            _require_finite(adapter, chunk, answered)
            if store is not None:
                store.put(chunk, answered)
            for prompt, answer in zip(chunk, answered):
                p_yes[prompt.text] = answer.p_yes
                if store is None:
                    for site, states in answer.hidden.items():
                        held.setdefault(site, {})[prompt.text] = states
            del answered  # the chunk's hidden states are in the cache now (or in ``held``)
            release_freed_memory()
    hidden: Mapping[str, Mapping[str, np.ndarray]] = held
    if store is not None:
        done = [p for p in prompts if p.text not in p_yes]
        p_yes.update(zip((p.text for p in done), store.p_yes(done)))
        hidden = store.hidden_tables(prompts)

    answers = Answers(layers=tuple(adapter.layers), source=adapter.fingerprint)
    answers.credences = {prompt.text: p_yes[prompt.text] for prompt in prompts}
    answers.hidden = dict(hidden)
    return answers


def chunk_size_for(adapter: Adapter) -> int:
    """Prompts per cache write: :data:`CHUNK_BATCHES` of ``adapter``'s batches, at most
    :data:`DEFAULT_CHUNK_SIZE` (which an adapter without a batch size gets)."""
    batch_size = getattr(adapter, "batch_size", None)
    if not isinstance(batch_size, int) or batch_size < 1:
        return DEFAULT_CHUNK_SIZE
    return min(DEFAULT_CHUNK_SIZE, CHUNK_BATCHES * batch_size)


def _require_finite(adapter: Adapter, prompts: Sequence[Prompt], answered: Sequence[PromptAnswer]) -> None:
    """Stop on an answer that is not a probability, or hidden states that are not finite: a
    model whose weights hold NaN, or whose activations overflow the dtype (float16), gives
    them, and no check can read them (nothing of the chunk is cached: the cache holds
    probabilities only)."""
    bad = [(prompt, answer) for prompt, answer in zip(prompts, answered)
           if not 0.0 <= answer.p_yes <= 1.0  # False for NaN too
           or not all(np.isfinite(states).all() for states in answer.hidden.values())]
    if not bad:
        return
    prompt, answer = bad[0]
    what = f"P(yes) = {answer.p_yes}" if not 0.0 <= answer.p_yes <= 1.0 else "hidden states that are not finite"
    name = getattr(adapter, "name", adapter.fingerprint)
    raise AdapterError(
        f"the model {name} gave {what} for {len(bad)} of {len(prompts)} prompts (first: {prompt.text[:60]!r}): "
        "its weights hold NaN or infinity, or its activations overflow a 16-bit dtype (try --dtype float32)"
    )


def _by_length(prompts: Sequence[Prompt]) -> list[Prompt]:
    # Chunks of similar length let the adapter's batches carry little padding; character
    # length is a cheap stand-in for token length (the adapter sorts by tokens inside a chunk).
    return sorted(prompts, key=lambda p: len(p.text), reverse=True)


def _chunks(prompts: list[Prompt], size: int) -> Iterable[list[Prompt]]:
    for start in range(0, len(prompts), size):
        yield prompts[start : start + size]
