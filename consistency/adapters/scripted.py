"""A scripted model for tests: deterministic answers and synthetic hidden states.

Every check can be tested exactly against it. It knows the suite it is asked about, so it
maps each prompt back to its claim, phrasing and framing, and answers from the ground truth
with planted lies:

- ``consistent`` lies flip the claim in every phrasing and framing;
- ``naive`` lies flip it only in the non-negated framings of the canonical text, so the
  negated framing and the paraphrases still tell the truth (what cross-examination catches).

As an evaluator (the critique check's judge and explanation-support prompts) it judges by
the truth, so its lies show up against its own judgements, unless ``lies_when_judging``.
For the directives check it reads each case's directive as the case's ``follows`` and does
what it says it should, except for the cases in ``directive_lies``: ``hypocrite`` endorses
the action whatever it says, ``flip`` reads the directive's canonical text the other way.

Hidden states carry a planted truth direction that grows with depth (layer 0, the
embeddings, carries none). At the statement end they encode the real truth, so lies show
up there unless ``hidden_follows_lies``; at the last token of the top layer they encode the
stated answer.
"""

from __future__ import annotations

import hashlib
from typing import Literal, Sequence

import numpy as np

from consistency.adapters.base import Prompt, PromptAnswer, ProgressCallback
from consistency.suite import Query, Suite

LieMode = Literal["consistent", "naive"]
DirectiveLie = Literal["hypocrite", "flip"]


def _unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from its arguments (stable across processes)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


class ScriptedAdapter:
    supports_hidden = True

    def __init__(
        self,
        suite: Suite,
        lies: dict[str, LieMode] | None = None,
        confidence: float = 0.9,
        jitter: float = 0.05,
        hidden_size: int = 16,
        n_layers: int = 4,
        signal: float = 3.0,
        hidden_follows_lies: bool = False,
        seed: int = 0,
        lies_when_judging: bool = False,
        directive_lies: dict[str, DirectiveLie] | None = None,
    ):
        from checks.critique import judge_query, support_query
        from checks.directives import Directives

        self.suite = suite
        self.lies_when_judging = lies_when_judging
        self.directive_lies = dict(directive_lies or {})
        self.lies = dict(lies or {})
        self.confidence = confidence
        self.jitter = jitter
        self.hidden_size = hidden_size
        self.layers = tuple(range(n_layers + 1))
        self.signal = signal
        self.hidden_follows_lies = hidden_follows_lies
        self.seed = seed
        rng = np.random.default_rng(seed)
        direction = rng.normal(size=hidden_size)
        self.truth_direction = direction / np.linalg.norm(direction)
        self.fingerprint = "scripted:" + hashlib.sha256(
            repr((suite.name, sorted(self.lies.items()), confidence, jitter, hidden_size, n_layers, signal,
                  hidden_follows_lies, seed, lies_when_judging, sorted(self.directive_lies.items()))).encode()
        ).hexdigest()[:16]
        self._queries: dict[str, Query] = {}
        for prop in suite.propositions.values():
            for variant in range(len(prop.phrasings)):
                for framing in suite.framings:
                    q = suite.query(prop.id, variant, framing.name)
                    self._queries.setdefault(q.prompt, q)
        for conditional in suite.conditionals:
            for framing in suite.framings:
                q = suite.conditional_query(conditional, framing.name)
                self._queries.setdefault(q.prompt, q)
        for pid in suite.propositions:
            for answer in (True, False):
                q = judge_query(suite, pid, answer)
                self._queries.setdefault(q.prompt, q)
        for explanation in suite.explanations:
            for claim in explanation.claims:
                q = support_query(suite, explanation.proposition, claim)
                self._queries.setdefault(q.prompt, q)
        directives = Directives()
        for q in directives.queries(suite):
            self._queries.setdefault(q.prompt, q)
        self._cases = {case.id: case for case in suite.cases}

    # ----- what the scripted model believes and says --------------------------------
    def truth(self, claim: str) -> bool:
        prop = self.suite.propositions[claim]
        if prop.truth is not None:
            return prop.truth
        return _unit_hash(self.seed, "truth", claim) < 0.5

    def stated(self, query: Query) -> bool:
        """The truth value the model asserts for the query's statement."""
        claim = self._conditional_then(query) if query.given else query.claim
        value = self.truth(claim)
        mode = self.lies.get(claim)
        if mode == "consistent":
            return not value
        if mode == "naive" and query.variant == 0 and not query.negated:
            return not value
        return value

    def judged(self, claim: str) -> bool:
        """The truth value the model holds when it judges an answer about ``claim``."""
        if self.lies_when_judging and claim in self.lies:
            return not self.truth(claim)
        return self.truth(claim)

    def _directive_p_yes(self, query: Query) -> float:
        case = self._cases[query.claim]
        follows = case.follows if case.follows is not None else _unit_hash(self.seed, "follows", case.id) < 0.5
        mode = self.directive_lies.get(case.id)
        if query.framing == "interpretation":
            says = follows != (mode == "flip" and query.variant == 0)
        else:
            says = follows or mode == "hypocrite"
        return self._confident(says, query.prompt)

    def _confident(self, yes: bool, prompt: str) -> float:
        noise = (2 * _unit_hash(self.seed, "jitter", prompt) - 1) * self.jitter
        p = self.confidence + noise
        return float(np.clip(p if yes else 1 - p, 1e-4, 1 - 1e-4))

    def _conditional_then(self, query: Query) -> str:
        if query.framing.startswith("supported-by:"):  # P(claim | an explanation's claim): about the claim
            return query.claim
        return next(c.then for c in self.suite.conditionals if c.id == query.claim)

    def belief(self, query: Query) -> float:
        noise = (2 * _unit_hash(self.seed, "jitter", query.prompt) - 1) * self.jitter
        p = self.confidence + noise
        return float(np.clip(p if self.stated(query) else 1 - p, 1e-4, 1 - 1e-4))

    # ----- the adapter interface ------------------------------------------------------
    def answer(self, prompts: Sequence[Prompt], progress: ProgressCallback | None = None) -> list[PromptAnswer]:
        out = []
        for prompt in prompts:
            query = self._queries.get(prompt.text)
            if query is None:
                raise KeyError(f"the scripted model was not scripted for prompt {prompt.text!r}")
            if query.framing in ("interpretation", "behaviour"):
                p_yes = self._directive_p_yes(query)
            elif query.framing in ("judge-yes", "judge-no"):
                # P(correct) of the answer shown: yes is correct iff it holds the statement true
                p_yes = self._confident(self.judged(query.claim) != query.negated, prompt.text)
            elif query.framing.startswith("supported-by:"):
                p_yes = self._confident(self.judged(query.claim), prompt.text)
            else:
                belief = self.belief(query)
                p_yes = 1 - belief if query.negated else belief
            hidden = self._hidden(query) if prompt.want_hidden else {}
            out.append(PromptAnswer(p_yes, hidden))
        if progress:
            progress(len(prompts))
        return out

    def _hidden(self, query: Query) -> dict[str, np.ndarray]:
        if query.claim not in self.suite.propositions and not query.given:
            return {}  # a directive case: no statement whose truth the states could carry
        claim = self._conditional_then(query) if query.given else query.claim
        known = self.truth(claim)
        if self.hidden_follows_lies and claim in self.lies:
            known = not known
        said = self.stated(query) != query.negated  # the answer word it gives: yes or no
        rng = np.random.default_rng(int(_unit_hash(self.seed, "hidden", query.prompt) * 2**32))
        depth = np.linspace(0.0, 1.0, len(self.layers))[:, None]  # no signal in the embeddings
        noise = rng.normal(size=(len(self.layers), self.hidden_size))
        statement_end = noise + self.signal * depth * (1 if known else -1) * self.truth_direction
        last = noise + self.signal * depth * (1 if said else -1) * self.truth_direction
        return {"statement_end": statement_end.astype(np.float32), "last": last.astype(np.float32)}
