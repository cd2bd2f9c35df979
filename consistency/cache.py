"""An on-disk cache of answers and hidden states, so an interrupted audit resumes.

Layout: ``<dir>/<fingerprint digest>/`` holds ``manifest.json`` and ``shard-*.safetensors``.
Each shard holds one chunk of answers: ``p_yes`` (float64, one per prompt) and, per hidden
state site, an array (rows, layers, hidden_size) for the prompts that asked for hidden states.
A shard's safetensors header names its entries (the key of each row and its hidden-state
row), so a shard is self-describing; the manifest lists the shards and the fingerprint.

Every file is written to a temporary name and renamed into place (atomic on POSIX), so a kill
never leaves a half-written shard or manifest. A shard renamed into place before the process
died, but not yet listed in the manifest, is adopted the next time the cache is opened: at
most the chunk being computed is lost.

An entry's key hashes the adapter fingerprint (model, tokenizer, answer words, dtype and
captured layers), the prompt text (template included) and the statement's end offset.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from consistency.adapters.base import Prompt, PromptAnswer

CACHE_FORMAT = 1
MANIFEST = "manifest.json"


class CacheError(Exception):
    """A cache directory that cannot be used (one line, shown to the user as is)."""


@dataclass(frozen=True)
class _Entry:
    shard: str
    row: int
    hidden_row: int  # row in the shard's hidden-state arrays, -1 when none were stored


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
        self._entries: dict[str, _Entry] = {}
        self._shards: list[str] = []
        self._load()

    # ----- keys ---------------------------------------------------------------------
    def key(self, prompt: Prompt) -> str:
        material = json.dumps([self.fingerprint, prompt.text, prompt.statement_end])
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    # ----- reading ------------------------------------------------------------------
    def _load(self) -> None:
        manifest_path = self.path / MANIFEST
        listed: list[str] = []
        if manifest_path.exists():
            try:
                manifest = json.loads(manifest_path.read_text())
                listed = list(manifest["shards"])
                stored = manifest["fingerprint"], manifest["format"]
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise CacheError(f"unreadable cache manifest {manifest_path}: {error}") from None
            if stored != (self.fingerprint, CACHE_FORMAT):
                raise CacheError(f"cache manifest {manifest_path} belongs to another model or format")
        # Adopt complete shards the manifest does not list yet (killed between the two renames).
        on_disk = sorted(p.name for p in self.path.glob("shard-*.safetensors"))
        for name in [*listed, *(n for n in on_disk if n not in listed)]:
            self._index_shard(name)

    def _index_shard(self, name: str) -> None:
        try:
            with safe_open(str(self.path / name), framework="np") as shard:
                meta = shard.metadata() or {}
            keys, hidden_rows = json.loads(meta["keys"]), json.loads(meta["hidden_rows"])
        except (OSError, ValueError, KeyError) as error:
            raise CacheError(f"corrupt cache shard {self.path / name}: {error}") from None
        self._add(name, keys, hidden_rows)

    def _add(self, shard: str, keys: Sequence[str], hidden_rows: Sequence[int]) -> None:
        self._shards.append(shard)
        for row, (key, hidden_row) in enumerate(zip(keys, hidden_rows)):
            previous = self._entries.get(key)
            # A later entry wins unless it would drop hidden states an earlier one has.
            if previous is None or hidden_row >= 0 or previous.hidden_row < 0:
                self._entries[key] = _Entry(shard, row, hidden_row)

    def __len__(self) -> int:
        return len(self._entries)

    def missing(self, prompts: Iterable[Prompt]) -> list[Prompt]:
        """The prompts with no usable entry (none, or one without the hidden states wanted)."""
        out = []
        for prompt in prompts:
            entry = self._entries.get(self.key(prompt))
            if entry is None or (prompt.want_hidden and entry.hidden_row < 0):
                out.append(prompt)
        return out

    def get(self, prompts: Sequence[Prompt]) -> list[PromptAnswer]:
        """The cached answers of ``prompts`` (all must be cached; see :meth:`missing`)."""
        wanted: dict[str, list[tuple[int, Prompt, _Entry]]] = {}
        for i, prompt in enumerate(prompts):
            entry = self._entries[self.key(prompt)]
            wanted.setdefault(entry.shard, []).append((i, prompt, entry))
        out: list[PromptAnswer | None] = [None] * len(prompts)
        for name, items in wanted.items():
            # One read per shard; hidden-state arrays are sliced lazily, only where wanted.
            with safe_open(str(self.path / name), framework="np") as shard:
                p_yes = shard.get_tensor("p_yes")
                sites = [k for k in shard.keys() if k != "p_yes"]
                slices = {site: shard.get_slice(site) for site in sites}
                for i, prompt, entry in items:
                    hidden = {}
                    if prompt.want_hidden:
                        hidden = {site: np.asarray(slices[site][entry.hidden_row]) for site in sites}
                    out[i] = PromptAnswer(float(p_yes[entry.row]), hidden)
        return out  # type: ignore[return-value]

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
        name = f"shard-{len(self._shards):06d}-{uuid.uuid4().hex[:8]}.safetensors"
        _atomic_write(self.path / name, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
        self._add(name, keys, hidden_rows)
        manifest = {"format": CACHE_FORMAT, "fingerprint": self.fingerprint, "shards": self._shards}
        _atomic_write(self.path / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))
