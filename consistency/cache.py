"""An on-disk cache of answers and hidden states, so an interrupted audit resumes.

Layout: ``<dir>/<fingerprint digest>/`` holds ``manifest.json`` and ``shard-*.safetensors``.
Each shard holds one chunk of answers: ``p_yes`` (float64, one per prompt) and, per hidden
state site, an array (rows, layers, hidden_size) for the prompts that asked for hidden states.
A shard's safetensors header names its entries (the key of each row and its hidden-state
row), so a shard is self-describing; the manifest lists the shards and the fingerprint.

Every file is written to a temporary name and renamed into place (atomic on POSIX), so a kill
never leaves a half-written shard or manifest. A shard renamed into place before the process
died, but not yet listed in the manifest, is adopted the next time the cache is opened: at
most the chunk being computed is lost. Damage from outside (a disk fault, a hand edit) heals
itself: an unreadable manifest is rebuilt from the shards, a corrupt shard is set aside
(renamed ``*.corrupt``) and its answers are computed again.

An entry's key hashes the adapter fingerprint (model, tokenizer, answer words, dtype and
captured layers), the prompt text (template included) and the statement's end offset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from consistency.adapters.base import Prompt, PromptAnswer
from consistency.errors import UserError

CACHE_FORMAT = 1
MANIFEST = "manifest.json"

log = logging.getLogger(__name__)


class CacheError(UserError):
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
        listed = self._read_manifest()
        on_disk = set(p.name for p in self.path.glob("shard-*.safetensors"))
        # Listed shards first (their order decides which duplicate wins), then complete shards
        # the manifest does not list yet (the process died between the two renames).
        for name in [*(n for n in listed if n in on_disk), *sorted(on_disk - set(listed))]:
            self._index_shard(name)

    def _read_manifest(self) -> list[str]:
        path = self.path / MANIFEST
        if not path.exists():
            return []
        try:
            manifest = json.loads(path.read_text())
            listed = [str(name) for name in manifest["shards"]]
            stored = manifest["fingerprint"], manifest["format"]
        except (OSError, ValueError, KeyError, TypeError):
            # Shards are self-describing, so an unreadable index costs nothing: rebuild it.
            log.warning("cache manifest %s is unreadable; rebuilding it from the shards", path)
            return []
        if stored != (self.fingerprint, CACHE_FORMAT):
            # Never touch a cache written by another format or model: refuse instead.
            raise CacheError(f"the cache in {self.path} has another format or model; point the cache elsewhere")
        return listed

    def _index_shard(self, name: str) -> None:
        path = self.path / name
        try:
            with safe_open(str(path), framework="np") as shard:
                meta = shard.metadata() or {}
            keys, hidden_rows = json.loads(meta["keys"]), json.loads(meta["hidden_rows"])
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
            # Atomic writes make this a disk fault or a hand edit; its answers are recomputed.
            log.warning("cache shard %s is corrupt (%s); setting it aside and recomputing it", path, error)
            os.replace(path, path.with_name(name + ".corrupt"))
            return
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
