"""The adapter interface: how the engine gets answers out of a model.

An adapter answers prompts. For each :class:`Prompt` it returns P(yes) normalised over the
yes/no answer tokens at the last position and, when ``want_hidden`` is set, the hidden
states at the captured layers at two sites: the last token and the statement's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from consistency.errors import UserError


class AdapterError(UserError):
    """A model that cannot be loaded or asked (one line, shown to the user as is)."""


@dataclass(frozen=True)
class Prompt:
    text: str
    statement_end: int  # character offset where the statement ends
    want_hidden: bool = False


@dataclass
class PromptAnswer:
    p_yes: float
    # site -> array (len(layers), hidden_size); empty when hidden states were not asked for
    hidden: dict[str, np.ndarray]


ProgressCallback = Callable[[int], None]  # called with the number of prompts just finished


class Adapter(Protocol):
    # identifies everything that changes the answers (weights, tokenizer, answer words, dtype,
    # captured layers): the answer cache is keyed by it
    fingerprint: str
    # layers whose hidden states are captured, numbered as transformers' output_hidden_states:
    # 0 = embeddings, i = output of block i (the last one after the final norm)
    layers: tuple[int, ...]
    supports_hidden: bool

    def answer(self, prompts: Sequence[Prompt], progress: ProgressCallback | None = None) -> list[PromptAnswer]: ...
