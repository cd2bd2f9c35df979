"""An on-disk cache of answers and hidden states, so an interrupted audit resumes.

Layout: ``<dir>/<fingerprint digest>/`` holds ``manifest.json`` and ``shard-*.safetensors``.
Each shard holds one chunk of answers: ``p_yes`` (float64, one per prompt) and, per hidden
state site, an array (rows, layers, hidden_size) for the prompts that asked for hidden states.
A shard's safetensors header names its entries (the key of each row and its hidden-state
row); the manifest lists every shard with its SHA-256 and the fingerprint.

Nothing in the directory is trusted that the manifest does not vouch for: a shard it does not
list, or whose SHA-256 differs, stops the audit with one line (someone or something wrote into
the cache; its answers would silently replace the model's), and every value read is checked
(P(yes) finite and in [0, 1], hidden states finite, every array the shape its header says).

Writes are ordered so that a kill at any instant leaves a cache that opens: a shard is written
to a temporary name, listed (with its hash) in the manifest, and only then renamed into place.
A listed shard that is absent (the kill fell between the last two steps) is simply recomputed;
an unlisted one can therefore only come from outside. The manifest is updated under a lock,
so concurrent writers (one per worker) never drop each other's shards.

An entry's key hashes the adapter fingerprint (model, tokenizer, answer words, dtype and
captured layers), the prompt text (template included) and the statement's end offset.

Hidden states are not read back into memory wholesale: :meth:`AnswerCache.hidden_tables` gives
one :class:`HiddenTable` per site, a mapping that reads a prompt's states from its shard when
asked, and whose :meth:`HiddenTable.layer_rows` reads one layer of many prompts shard by shard.
An audit's memory then grows with one layer of the prompts a check reads, not with every
captured layer of every prompt (bench/memory.py measures it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import tempfile
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from consistency.adapters.base import Prompt, PromptAnswer
from consistency.errors import UserError
from consistency.files import atomic_path

CACHE_FORMAT = 2  # 2: shards listed with their SHA-256
MANIFEST = "manifest.json"
LOCK = ".manifest.lock"
# Shards kept open for reading hidden states: each open parses the shard's header (its key
# list), which costs more than reading a row, and a reader usually walks a few shards in turn.
OPEN_SHARDS = 4

log = logging.getLogger(__name__)


class CacheError(UserError):
    """A cache directory that cannot be used (one line, shown to the user as is)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """Where one prompt's answer is stored."""

    shard: str
    row: int
    hidden_row: int  # row in the shard's hidden-state arrays, -1 when none were stored


# The index holds one entry per cached prompt, so it stores each as a single int: the shard's
# number, the row and the hidden-state row + 1 packed in bit fields (about 120 bytes a prompt
# with its key, against 240 for a key string and an _Entry with its two ints).
_ROW_BITS = 26  # rows per shard below 2**26


def _key_number(key: str) -> int:
    """A hex key as the int the index is keyed by (an int is half the size of its hex string)."""
    return int(key, 16)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AnswerCache:
    """Answers of one adapter (one fingerprint) stored under ``directory``."""

    def __init__(self, directory: str | Path, fingerprint: str):
        self.fingerprint = fingerprint
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        self.path = Path(directory) / digest
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(f"cannot create the cache directory {self.path}: {error.strerror}") from None
        self._entries: dict[int, int] = {}  # key number -> packed entry (see _pack)
        self._shard_names: list[str] = []  # an entry's shard, by number
        self._shard_numbers: dict[str, int] = {}
        self._open: OrderedDict[str, Any] = OrderedDict()  # shard name -> safe_open handle
        self._load()

    @classmethod
    def temporary(cls, fingerprint: str) -> "AnswerCache":
        """A cache in a fresh temporary directory, removed once the cache and every table read
        from it are gone: where hidden states go when an audit runs without a cache."""
        directory = Path(tempfile.mkdtemp(prefix="consistency-hidden-"))
        cache = cls(directory, fingerprint)
        weakref.finalize(cache, shutil.rmtree, directory, ignore_errors=True)
        return cache

    # ----- keys ---------------------------------------------------------------------
    def key(self, prompt: Prompt) -> str:
        material = json.dumps([self.fingerprint, prompt.text, prompt.statement_end])
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    # ----- reading ------------------------------------------------------------------
    def _refuse(self, problem: str) -> CacheError:
        return CacheError(
            f"the answer cache {self.path} {problem}; its answers cannot be trusted: "
            "delete that directory to recompute them, or audit with --no-cache"
        )

    def _load(self) -> None:
        listed = self._read_manifest()
        on_disk = {p.name for p in self.path.glob("shard-*.safetensors")}
        unlisted = sorted(on_disk - set(listed))
        if unlisted:
            raise self._refuse(f"holds {unlisted[0]}, which its manifest does not list")
        # A listed shard that is absent died between the manifest and its rename: recomputed.
        for name, sha in listed.items():
            if name in on_disk:
                self._index_shard(name, sha)

    def _read_manifest(self) -> dict[str, str]:
        path = self.path / MANIFEST
        if not path.exists():
            return {}
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            stored = manifest["fingerprint"], manifest["format"]
        except (OSError, ValueError, KeyError, TypeError):
            raise self._refuse("has an unreadable manifest.json") from None
        if stored != (self.fingerprint, CACHE_FORMAT):
            # Never touch a cache written by another format or model: refuse instead.
            raise CacheError(f"the cache in {self.path} has another format or model; point the cache elsewhere")
        shards = manifest.get("shards")
        ok = isinstance(shards, list) and all(
            isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"].startswith("shard-")
            and "/" not in e["name"] and isinstance(e.get("sha256"), str) and len(e["sha256"]) == 64
            for e in shards
        )
        if not ok:
            raise self._refuse("has a manifest.json whose 'shards' is not a list of {name, sha256}")
        return {e["name"]: e["sha256"] for e in shards}

    def _index_shard(self, name: str, sha: str) -> None:
        path = self.path / name
        if _sha256(path) != sha:
            raise self._refuse(f"holds {name}, whose SHA-256 differs from the one its manifest lists")
        try:
            with safe_open(str(path), framework="np") as shard:
                meta = shard.metadata() or {}
                keys, hidden_rows = json.loads(meta["keys"]), json.loads(meta["hidden_rows"])
                problem = _validate_shard(keys, hidden_rows, {k: shard.get_slice(k).get_shape() for k in shard.keys()})  # noqa: SIM118 (a safetensors handle, not a dict)
                if problem is None:
                    problem = _validate_p_yes(shard.get_tensor("p_yes"))
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
            problem = f"is unreadable ({error})"
        if problem is not None:
            raise self._refuse(f"holds {name}, which {problem}")
        self._add(name, keys, hidden_rows)

    def _add(self, shard: str, keys: Sequence[str], hidden_rows: Sequence[int]) -> None:
        if len(keys) >= 1 << _ROW_BITS:
            raise self._refuse(f"holds {shard}, with {len(keys)} rows (at most {(1 << _ROW_BITS) - 1} per shard)")
        number = self._shard_numbers.setdefault(shard, len(self._shard_names))
        if number == len(self._shard_names):
            self._shard_names.append(shard)
        for row, (key, hidden_row) in enumerate(zip(keys, hidden_rows)):
            key_number = _key_number(key)
            previous = self._entries.get(key_number)
            # A later entry wins unless it would drop hidden states an earlier one has.
            if previous is None or hidden_row >= 0 or self._unpack(previous).hidden_row < 0:
                self._entries[key_number] = (number << 2 * _ROW_BITS) | (row << _ROW_BITS) | (hidden_row + 1)

    def _unpack(self, packed: int) -> _Entry:
        mask = (1 << _ROW_BITS) - 1
        return _Entry(self._shard_names[packed >> 2 * _ROW_BITS], (packed >> _ROW_BITS) & mask, (packed & mask) - 1)

    def _lookup(self, prompt: Prompt) -> _Entry | None:
        packed = self._entries.get(_key_number(self.key(prompt)))
        return None if packed is None else self._unpack(packed)

    def _packed(self, prompt: Prompt) -> int:
        return self._entries[_key_number(self.key(prompt))]

    def __len__(self) -> int:
        return len(self._entries)

    def missing(self, prompts: Iterable[Prompt]) -> list[Prompt]:
        """The prompts with no usable entry (none, or one without the hidden states wanted)."""
        out = []
        for prompt in prompts:
            entry = self._lookup(prompt)
            if entry is None or (prompt.want_hidden and entry.hidden_row < 0):
                out.append(prompt)
        return out

    def get(self, prompts: Sequence[Prompt]) -> list[PromptAnswer]:
        """The cached answers of ``prompts`` (all must be cached; see :meth:`missing`)."""
        wanted: dict[str, list[tuple[int, Prompt, _Entry]]] = {}
        for i, prompt in enumerate(prompts):
            entry = self._unpack(self._packed(prompt))
            wanted.setdefault(entry.shard, []).append((i, prompt, entry))
        out: list[PromptAnswer | None] = [None] * len(prompts)
        for name, items in wanted.items():
            # One read per shard; hidden-state arrays are sliced lazily, only where wanted.
            with safe_open(str(self.path / name), framework="np") as shard:
                p_yes = shard.get_tensor("p_yes")
                sites = [k for k in shard.keys() if k != "p_yes"]  # noqa: SIM118 (a safetensors handle, not a dict)
                slices = {site: shard.get_slice(site) for site in sites}
                for i, prompt, entry in items:
                    hidden = {}
                    if prompt.want_hidden:
                        hidden = {site: np.asarray(slices[site][entry.hidden_row]) for site in sites}
                        if not all(np.isfinite(states).all() for states in hidden.values()):
                            raise self._refuse(f"holds {name}, whose hidden states are not all finite")
                    out[i] = PromptAnswer(float(p_yes[entry.row]), hidden)
        return out  # type: ignore[return-value]

    def p_yes(self, prompts: Sequence[Prompt]) -> list[float]:
        """The cached P(yes) of ``prompts`` (all must be cached), without their hidden states."""
        out = [0.0] * len(prompts)
        by_shard: dict[str, list[tuple[int, int]]] = {}
        for i, prompt in enumerate(prompts):
            entry = self._unpack(self._packed(prompt))
            by_shard.setdefault(entry.shard, []).append((i, entry.row))
        for name, items in by_shard.items():
            column = self._shard(name).get_tensor("p_yes")
            for i, row in items:
                out[i] = float(column[row])
        return out

    def hidden_tables(self, prompts: Iterable[Prompt]) -> dict[str, "HiddenTable"]:
        """Per site, the hidden states of those ``prompts`` that want them (all must be cached
        with them), read from the shards only when asked."""
        where = {p.text: self._packed(p) for p in prompts if p.want_hidden}
        where = {text: packed for text, packed in where.items() if self._unpack(packed).hidden_row >= 0}
        if not where:
            return {}
        first = self._unpack(next(iter(where.values()))).shard
        sites = [k for k in self._shard(first).keys() if k != "p_yes"]  # noqa: SIM118 (a safetensors handle, not a dict)
        return {site: HiddenTable(self, site, where) for site in sites}

    def _shard(self, name: str) -> Any:
        """An open handle on shard ``name`` (the few most recently used stay open)."""
        handle = self._open.pop(name, None)
        if handle is None:
            try:
                handle = safe_open(str(self.path / name), framework="np")
            except (SafetensorError, OSError) as error:
                raise self._refuse(f"lost {name} while the audit read it ({error})") from None
            if len(self._open) >= OPEN_SHARDS:
                self._open.popitem(last=False)
        self._open[name] = handle
        return handle

    def _read_hidden(self, name: str, site: str, index: Any, *, bulk: bool = False) -> np.ndarray:
        """Hidden states of shard ``name`` at ``site``, ``index`` into its (rows, layers, hidden) array.

        A ``bulk`` read (one layer of every row) goes through a handle closed right after: it
        touches every page of the site's array (rows are row-major, a layer strided through
        them), and a kept handle would keep those pages mapped, so resident memory would grow
        with every shard kept open (up to ``OPEN_SHARDS`` whole arrays) instead of one layer.
        """
        if bulk:
            try:
                with safe_open(str(self.path / name), framework="np") as shard:
                    states = np.array(shard.get_slice(site)[index], dtype=np.float32)  # a copy: unmapped next
            except (SafetensorError, OSError) as error:
                raise self._refuse(f"lost {name} while the audit read it ({error})") from None
        else:
            states = np.asarray(self._shard(name).get_slice(site)[index], dtype=np.float32)
        if not np.isfinite(states).all():
            raise self._refuse(f"holds {name}, whose hidden states are not all finite")
        return states

    # ----- writing ------------------------------------------------------------------
    def put(self, prompts: Sequence[Prompt], answers: Sequence[PromptAnswer]) -> None:
        """Store one chunk of answers as a new shard, then list it in the manifest."""
        if not prompts:
            return
        keys = [self.key(p) for p in prompts]
        hidden_rows: list[int] = []
        stacks: dict[str, list[np.ndarray]] = {}
        n_hidden = 0
        for answer in answers:
            hidden_rows.append(n_hidden if answer.hidden else -1)
            if answer.hidden:
                n_hidden += 1
                for site, states in answer.hidden.items():
                    stacks.setdefault(site, []).append(np.asarray(states, dtype=np.float32))
        tensors = {"p_yes": np.array([a.p_yes for a in answers], dtype=np.float64)}
        tensors.update({site: np.stack(rows) for site, rows in stacks.items()})
        metadata = {"keys": json.dumps(keys), "hidden_rows": json.dumps(hidden_rows)}
        # uuid names: concurrent writers (one per worker) never overwrite each other's shards.
        name = f"shard-{uuid.uuid4().hex}.safetensors"
        with atomic_path(self.path / name) as temporary:
            try:
                save_file(tensors, str(temporary), metadata=metadata)
            except SafetensorError as error:  # a full disk: the answers cached so far stay
                raise CacheError(f"cannot write a shard to the answer cache {self.path}: {error}") from None
            sha = _sha256(temporary)
            # Listed first, renamed into place second (on leaving the block): a shard on disk
            # is always one the manifest vouches for.
            with self._locked():
                shards = {**self._read_manifest(), name: sha}
                manifest = {"format": CACHE_FORMAT, "fingerprint": self.fingerprint,
                            "shards": [{"name": n, "sha256": h} for n, h in shards.items()]}
                with atomic_path(self.path / MANIFEST) as manifest_tmp:
                    manifest_tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        self._add(name, keys, hidden_rows)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class HiddenTable(Mapping[str, np.ndarray]):
    """One site's hidden states, prompt text -> (layers, hidden_size) float32, read on demand."""

    def __init__(self, cache: AnswerCache, site: str, where: Mapping[str, int]):
        self._cache, self.site, self._where = cache, site, where

    def __getitem__(self, prompt: str) -> np.ndarray:
        entry = self._cache._unpack(self._where[prompt])
        return self._cache._read_hidden(entry.shard, self.site, entry.hidden_row)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, prompt: object) -> bool:
        return prompt in self._where

    def layer_rows(self, prompts: Sequence[str], index: int) -> np.ndarray:
        """The states of ``prompts`` at the captured layer at ``index``: (len(prompts), hidden_size).

        Read shard by shard, one layer at a time: at most one shard's column of that layer is
        held besides the result.
        """
        by_shard: dict[str, tuple[list[int], list[int]]] = {}
        for i, prompt in enumerate(prompts):
            entry = self._cache._unpack(self._where[prompt])
            at, rows = by_shard.setdefault(entry.shard, ([], []))
            at.append(i)
            rows.append(entry.hidden_row)
        out: np.ndarray | None = None
        for name, (at, rows) in by_shard.items():
            column = self._cache._read_hidden(name, self.site, (slice(None), index), bulk=True)
            if out is None:
                out = np.empty((len(prompts), column.shape[-1]), dtype=np.float32)
            out[at] = column[rows]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)


def _validate_shard(keys: Any, hidden_rows: Any, shapes: dict[str, list[int]]) -> str | None:
    """What is wrong with a shard's header and array shapes, or None."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return "names its entries wrongly (keys must be a list of strings)"
    if not isinstance(hidden_rows, list) or len(hidden_rows) != len(keys):
        return "has a hidden_rows list that does not match its keys"
    n_hidden = sum(1 for r in hidden_rows if isinstance(r, int) and r >= 0)
    if sorted(r for r in hidden_rows if isinstance(r, int) and r >= 0) != list(range(n_hidden)) or not all(
        isinstance(r, int) and not isinstance(r, bool) and r >= -1 for r in hidden_rows
    ):
        return "has hidden_rows that are not -1 or 0, 1, 2, ... in turn"
    if shapes.get("p_yes") != [len(keys)]:
        return f"has p_yes of shape {shapes.get('p_yes')}, not [{len(keys)}] (one per key)"
    sites = {k: v for k, v in shapes.items() if k != "p_yes"}
    if n_hidden and not sites:
        return "lists hidden-state rows but holds no hidden states"
    for site, shape in sites.items():
        if len(shape) != 3 or shape[0] != n_hidden:
            return f"has {site} of shape {shape}, not [{n_hidden}, layers, hidden size]"
    if len({tuple(shape[1:]) for shape in sites.values()}) > 1:
        return "has hidden-state sites of different shapes"
    return None


def _validate_p_yes(p_yes: np.ndarray) -> str | None:
    if p_yes.dtype != np.float64:
        return f"has p_yes of type {p_yes.dtype}, not float64"
    bad = np.flatnonzero(~(np.isfinite(p_yes) & (p_yes >= 0.0) & (p_yes <= 1.0)))
    if bad.size:
        return f"has p_yes = {float(p_yes[bad[0]])!r} at row {int(bad[0])}, not a probability in [0, 1]"
    return None
