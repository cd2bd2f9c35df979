"""Fitted estimators remembered by the data they were fitted on, for the length of one audit.

The liar-capability ladder re-runs every check on hundreds of simulated liars' answers. A
liar changes what the model *said* (and, at L5, the hidden states of the prompts it changed),
so the probes and weak-to-strong copies, which train on the trusted split's hidden states and
labels, mostly see exactly the training data they saw before. Keying each fit on a digest of
its training data (and of the random generator's state when it draws, restored on a hit)
makes a repeated fit free and its result identical to fitting again.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def digest(*parts: Any) -> str:
    """A content digest of arrays (dtype, shape and bytes) and plain values."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(_array_digest(part) if isinstance(part, np.ndarray) else repr(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


# id(array) -> (the array, weakly, its digest): the digests of arrays marked by :func:`frozen`
_FROZEN: dict[int, tuple[weakref.ref, bytes]] = {}


def frozen(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only, its digest computed once for every later :func:`digest`.

    For arrays read again and again unchanged (the ladder's re-runs read the same hidden-state
    rows hundreds of times). The array must own its data (no view of a writable one), and
    nothing may make it writable again.
    """
    assert array.base is None, "only an array that owns its data can be frozen"
    array.flags.writeable = False
    key = id(array)
    _FROZEN[key] = (weakref.ref(array, lambda _: _FROZEN.pop(key, None)), _content_digest(array))
    return array


def _array_digest(array: np.ndarray) -> bytes:
    found = _FROZEN.get(id(array))
    if found is not None and found[0]() is array:
        return found[1]
    return _content_digest(array)


def _content_digest(array: np.ndarray) -> bytes:
    """The digest of an array's dtype, shape and bytes."""
    h = hashlib.blake2b(digest_size=16)
    contiguous = np.ascontiguousarray(array)
    h.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
    h.update(contiguous.data)
    return h.digest()


class FitCache:
    """Results of fits keyed on their inputs; values must be treated as read-only by callers.

    ``enabled=False`` (``--no-fit-cache``) computes every time and remembers nothing; the
    ladder then also re-runs every check and repair it would otherwise reuse (see
    consistency/ladder.py), so an audit with and without it must give identical results.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._store: dict[tuple[Hashable, str], tuple[Any, dict[str, Any] | None]] = {}
        self._tokens: dict[int, tuple[Any, int]] = {}  # id(object) -> (the object, its number)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def token(self, value: Hashable) -> int:
        """A small number standing for the immutable object ``value`` in keys: equal numbers
        mean the very same object. For objects that are slow to hash (formula trees, hashed
        node by node on every lookup); the cache keeps ``value`` alive, so its number is never
        another's. Another object equal to it gets another number: a miss, never a wrong hit."""
        found = self._tokens.get(id(value))
        if found is None:
            found = self._tokens[id(value)] = (value, len(self._tokens))
        return found[1]

    def memo(self, key: Hashable, rng: np.random.Generator | None, compute: Callable[[], T]) -> T:
        """``compute()``, or what it returned before for the same ``key`` and ``rng`` state.

        When ``compute`` draws from ``rng``, a hit leaves ``rng`` in the state the computation
        left it in, so whatever draws next draws the same numbers as without the cache.
        """
        if not self.enabled:
            self.misses += 1
            return compute()
        state = repr(rng.bit_generator.state) if rng is not None else ""
        found = self._store.get((key, state))
        if found is not None:
            self.hits += 1
            value, after = found
            if rng is not None and after is not None:
                rng.bit_generator.state = after
            return value
        self.misses += 1
        value = compute()
        self._store[(key, state)] = (value, rng.bit_generator.state if rng is not None else None)  # type: ignore[assignment]  # numpy types the state as a Mapping; it is a dict
        return value
