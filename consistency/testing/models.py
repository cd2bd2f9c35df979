"""What ``assert_consistent`` and the pytest plugin accept as a model, and the answer cache.

A model is an :class:`Adapter`, ready :class:`Answers`, or a :class:`ModelRef`: a
checkpoint directory, ``organism:<kind>`` for a bundled model organism, or
``package.module:factory`` for a function that returns an adapter. A reference is opened
once per process (per answer words) behind a :class:`CachedAdapter`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Sequence, TypeGuard, Union

from consistency.adapters.base import Adapter, Prompt, PromptAnswer, ProgressCallback
from consistency.answers import Answers
from consistency.errors import UserError
from consistency.suite import DEFAULT_ANSWER_WORDS

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ModelError(UserError):
    """A model reference that cannot be opened (one line, shown to the user as is)."""


class CachedAdapter:
    """Remembers every answer of the adapter it wraps: each prompt is asked at most once,
    and a batch only forwards the prompts not seen before (in one call)."""

    def __init__(self, adapter: Adapter):
        self.adapter = adapter
        self.fingerprint = adapter.fingerprint
        self.layers = tuple(adapter.layers)
        self.supports_hidden = adapter.supports_hidden
        self._memo: dict[str, PromptAnswer] = {}

    def answer(self, prompts: Sequence[Prompt], progress: ProgressCallback | None = None) -> list[PromptAnswer]:
        def known(prompt: Prompt) -> bool:
            got = self._memo.get(prompt.text)
            return got is not None and (bool(got.hidden) or not prompt.want_hidden)

        todo = list({p.text: p for p in prompts if not known(p)}.values())
        if todo:
            for prompt, result in zip(todo, self.adapter.answer(todo, progress)):
                self._memo[prompt.text] = result
        return [self._memo[p.text] for p in prompts]


@dataclass(frozen=True)
class ModelRef:
    """A model named by a string; relative directories are taken from ``base``."""

    spec: str
    base: Path = Path(".")

    def __str__(self) -> str:
        return self.spec

    def adapter(self, answer_words: dict[str, list[str]] | None = None) -> CachedAdapter:
        """The model behind an answer cache, opened once per process and answer words."""
        words = answer_words or DEFAULT_ANSWER_WORDS
        spoken = tuple((k, tuple(v)) for k, v in sorted(words.items()))
        key = (self.spec, str(self.base), spoken)
        if key not in _OPENED:
            # References that name one checkpoint (a relative path and an absolute one,
            # organism:<kind> and its directory) share one model and one answer cache.
            target = (self.spec, str(self.base)) if self._factory() is not None else str(self.directory())
            if (target, spoken) not in _SHARED:
                _SHARED[(target, spoken)] = CachedAdapter(self._open(words))
            _OPENED[key] = _SHARED[(target, spoken)]
        return _OPENED[key]

    def validate(self) -> None:
        """Fail now, in one line, if the reference cannot be opened (without loading weights)."""
        if self._factory() is None:
            self.directory()

    def _open(self, words: dict[str, list[str]]) -> Adapter:
        factory = self._factory()
        if factory is not None:
            adapter = factory()
            if not _is_adapter(adapter):
                raise ModelError(f"consistency model {self.spec!r}: the factory returned a {type(adapter).__name__}, not an adapter")
            return adapter
        # Imported here: torch and transformers load only when a checkpoint is really used.
        from consistency.adapters.hf import HFAdapter

        return HFAdapter(str(self.directory()), answer_words=words)

    def _factory(self):
        """The ``module:attribute`` callable this names, or None when it names a directory."""
        if not _FACTORY.match(self.spec) or self.spec.startswith("organism:") or (self.base / self.spec).exists():
            return None
        module_name, _, attribute = self.spec.partition(":")
        try:
            target = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ModelError(f"consistency model {self.spec!r}: cannot import it ({exc})") from None
        if not callable(target):
            raise ModelError(f"consistency model {self.spec!r}: {attribute} is not callable")
        return target

    def directory(self) -> Path:
        """The checkpoint directory this names (``organism:<kind>`` or a path)."""
        from consistency.organisms import resolve_model

        try:
            named = resolve_model(self.spec)
        except UserError as exc:
            raise ModelError(f"consistency model {self.spec!r}: {exc}") from None
        # a bundled organism's directory is absolute, so joining it to the base keeps it as is
        directory = (self.base / Path(named).expanduser()).resolve()
        if not directory.is_dir():
            raise ModelError(f"consistency model {self.spec!r}: {directory} is not a checkpoint directory")
        return directory


_OPENED: dict[tuple, CachedAdapter] = {}  # (spec, base, answer words) -> the model it names
_SHARED: dict[tuple, CachedAdapter] = {}  # (checkpoint directory or factory, answer words) -> model


def _is_adapter(value: object) -> TypeGuard[Adapter]:
    return callable(getattr(value, "answer", None)) and hasattr(value, "fingerprint") and hasattr(value, "layers")


ModelLike = Union[Adapter, Answers, ModelRef, str, PathLike]


def resolve(model: ModelLike, answer_words: dict[str, list[str]] | None = None) -> Adapter | Answers:
    """An adapter or answers for ``model``; references and paths are opened with ``answer_words``."""
    if isinstance(model, Answers) or (not isinstance(model, ModelRef) and _is_adapter(model)):
        return model
    if isinstance(model, (str, PathLike)):
        model = ModelRef(str(model))
    if isinstance(model, ModelRef):
        return model.adapter(answer_words)
    raise ModelError(f"cannot audit a {type(model).__name__}: pass an adapter, Answers, or a checkpoint directory")
