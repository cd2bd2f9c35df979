"""The results.json schema: one set of typed models shared by every reader and writer.

The checks build :class:`CheckResult` and :class:`Conflict`, the audit assembles a
:class:`Results`, ``reports/results.py`` writes it (serialised once, here at the edge) and
reads it back validated, the report and the CI toolkit read the same models, and a plugin
author returns them. ``consistency schema`` prints :func:`json_schema`.

Versioning: ``SCHEMA_VERSION`` is ``major.minor``. A reader accepts any file of its major
version (added fields take their defaults) and migrates older majors it knows
(:func:`reports.results.migrate`). Add fields freely with a default and bump the minor
number; rename or remove one only with a major bump and a migration.

Numbers that may be undefined (a metric on an empty split, a threshold with no null claims)
are NaN in memory and ``null`` in the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic_core import SchemaSerializer, core_schema

from consistency.config import AuditConfig

# 1.1: typed models; claims[*].lie_score and the verdict section (both optional) added; the
# verdict typed (Verdict) with the same fields, plus checks.*.layer/layers (additive).
# 1.2: verdict.checks.*.about (what the check judged: claims or directive cases) and the
# finding "no null" (a check with audited claims and nothing to compare them with).
# 1.3: bar.spread, the bar on bootstrap redraws of the targets (additive).
# 1.4: verdict.checks.*.test "boschloo-exact" (small designs); the critique check's metric
# trusted_judged, and its claim scores and conflicts on a sample of trusted claims (its null).
SCHEMA_VERSION = "1.4"


# ----- claim keys ---------------------------------------------------------------------------

_PHRASING_KEY = re.compile(r"(?P<claim>[^#]+)#v(?P<variant>\d+):(?P<framing>.+)")


@dataclass(frozen=True, order=True)
class ClaimRef:
    """What a conflict names: a proposition (or conditional) id, or one phrasing of it.

    The only place a claim key is formatted or parsed: ``p1`` names the proposition,
    ``p1#v2:is-false`` its phrasing 2 asked under the framing ``is-false``.
    """

    claim: str
    variant: int | None = None
    framing: str | None = None

    def __post_init__(self) -> None:
        if (self.variant is None) != (self.framing is None):
            raise ValueError("a phrasing needs both its variant and its framing")

    @classmethod
    def parse(cls, key: str) -> ClaimRef:
        if "#" not in key:
            if not key:
                raise ValueError("empty claim key")
            return cls(key)
        match = _PHRASING_KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"claim key {key!r} is neither '<id>' nor '<id>#v<variant>:<framing>'")
        return cls(match["claim"], int(match["variant"]), match["framing"])

    def __str__(self) -> str:
        return self.claim if self.variant is None else f"{self.claim}#v{self.variant}:{self.framing}"

    @property
    def is_phrasing(self) -> bool:
        return self.variant is not None

    def canonical(self, primary_framing: str) -> ClaimRef:
        """The primary phrasing (variant 0 under the primary framing) is the proposition itself."""
        if self.variant == 0 and self.framing == primary_framing:
            return ClaimRef(self.claim)
        return self


def proposition_of(key: str) -> str:
    """The proposition (or conditional) id a claim key is about: ``p1#v2:x`` -> ``p1``."""
    return ClaimRef.parse(key).claim


def _valid_claim_key(key: str) -> str:
    ClaimRef.parse(key)
    return key


ClaimKey = Annotated[str, AfterValidator(_valid_claim_key)]


class ClaimIndex:
    """Claim keys in a fixed order, shared by every :class:`ScoreTable` over them, with their
    positions looked up (the lookup table built once, when first asked)."""

    __slots__ = ("keys", "_at")

    def __init__(self, keys: Sequence[str]):
        self.keys = tuple(keys)
        self._at: dict[str, int] | None = None

    def position(self, key: str) -> int:
        if self._at is None:
            self._at = {k: i for i, k in enumerate(self.keys)}
        return self._at[key]

    def __len__(self) -> int:
        return len(self.keys)


class ScoreTable(Mapping[str, float]):
    """Scores per claim key, ``{key: score}`` to every reader and in results.json, held as one
    float64 array over a shared :class:`ClaimIndex`.

    A check that scores the same claims several ways (the probe: every readable layer, on the
    audited and the trusted claims) keeps one key list and 8 bytes a score, not a dict of
    Python floats per way: at 100k claims the probe's per-layer dicts were tens of MB.
    """

    __slots__ = ("index", "scores")

    def __init__(self, index: ClaimIndex, scores: np.ndarray):
        if len(scores) != len(index):
            raise ValueError(f"{len(scores)} scores for {len(index)} claims")
        self.index, self.scores = index, np.asarray(scores, dtype=np.float64)

    def __getitem__(self, key: str) -> float:
        return float(self.scores[self.index.position(key)])

    def __iter__(self) -> Iterator[str]:
        return iter(self.index.keys)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"ScoreTable({dict(self)!r})"

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.index.keys, self.scores.tolist()))


# Serialised, wherever it sits in a model (a check's free-form details are typed Any), as the
# dict it stands for: pydantic serialises an object of unknown type through this attribute.
ScoreTable.__pydantic_serializer__ = SchemaSerializer(  # type: ignore[attr-defined]
    core_schema.any_schema(serialization=core_schema.plain_serializer_function_ser_schema(ScoreTable.as_dict))
)


def _finite_or_null(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


# A number that may be undefined: NaN in memory, null in results.json.
Number = Annotated[Union[float, None], PlainSerializer(_finite_or_null, when_used="json")]


class _Model(BaseModel):
    # Every section is closed: a field a writer adds must be declared here first.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")


# ----- what a check reports -----------------------------------------------------------------


class Conflict(_Model):
    """Evidence that some claims cannot all be honest.

    ``claims`` are claim keys (see :class:`ClaimRef`); ``severity`` is in [0, 1], larger
    meaning more certainly a contradiction; ``certificate`` is what a person can check by
    hand: it has a ``summary`` (one plain sentence) and a ``kind`` naming its structure
    (``phrasings``, ``unsat-core``, ``dutch-book``, ``probe-reading``, ...).
    """

    check: str
    claims: list[ClaimKey]
    severity: float = Field(ge=0, le=1)
    certificate: dict[str, Any]

    # Written out (rather than pydantic's keyword-only one) so that checks may build conflicts
    # positionally, and type checkers see it.
    def __init__(self, check: str, claims: Sequence[str], severity: float, certificate: Mapping[str, Any]) -> None:
        BaseModel.__init__(self, check=check, claims=claims, severity=severity, certificate=certificate)


class CheckResult(_Model):
    """What one check found; ``skipped`` says why it did not run, when it did not."""

    check: str
    metrics: dict[str, Number] = Field(default_factory=dict)
    conflicts: list[Conflict] = Field(default_factory=list)
    # per-proposition score in [0, 1]: how strongly this check implicates the claim
    claim_scores: dict[str, Number] = Field(default_factory=dict)
    # anything the report shows as tables or plots (JSON values)
    details: dict[str, Any] = Field(default_factory=dict)
    skipped: str | None = None

    def __init__(
        self,
        check: str,
        metrics: Mapping[str, float | None] | None = None,
        conflicts: Sequence[Conflict] | None = None,
        claim_scores: Mapping[str, float | None] | None = None,
        details: Mapping[str, Any] | None = None,
        skipped: str | None = None,
    ) -> None:
        BaseModel.__init__(self, check=check, metrics=metrics or {}, conflicts=conflicts or [],
                         claim_scores=claim_scores or {}, details=details or {}, skipped=skipped)


# ----- the run ------------------------------------------------------------------------------


class GGUFInfo(_Model):
    file: str
    sha256: str = Field(description="SHA-256 of the whole GGUF file")


class ModelInfo(_Model):
    name: str
    adapter: str = Field(description="hf, answers, scripted, ...")
    fingerprint: str | None = None
    chat: bool | None = Field(default=None, description="questions asked through the chat template")
    gguf: GGUFInfo | None = None


class FramingAccuracy(_Model):
    accuracy: float | None = None
    auroc: float | None = None
    n: int = 0
    p_value: float | None = None


class StatedAccuracy(_Model):
    """Trusted-split accuracy of the stated answers per framing (checks/docs/stated.md)."""

    framings: dict[str, FramingAccuracy] = Field(default_factory=dict)
    n_trusted: int = 0
    shots: int = 0
    alpha: float = 0.05
    at_chance: bool = False
    warning: str | None = None


class FramingInfo(_Model):
    name: str
    template: str
    negated: bool = False


class SuiteSummary(_Model):
    name: str
    source: str
    propositions: int
    relations: int = 0
    conditionals: int = 0
    decompositions: int = 0
    framings: list[FramingInfo] = Field(default_factory=list)


class ClaimRow(_Model):
    """One proposition under the primary framing."""

    text: str
    split: str
    truth: bool | None = None
    belief: Number = None
    lie_score: Number = Field(default=None, description="the verdict's per-claim lie score, when computed")


class Timings(_Model):
    elicit_s: float = 0.0
    explain_s: float = 0.0  # the critique check's generated explanations, when asked for
    checks_s: dict[str, float] = Field(default_factory=dict)
    aggregate_s: float = 0.0
    total_s: float = 0.0


# ----- the contradiction graph --------------------------------------------------------------


class ClaimNode(_Model):
    kind: Literal["claim"] = "claim"
    id: str
    proposition: str
    variant: int | None = None
    framing: str | None = None
    text: str = ""
    belief: Number = None
    truth: bool | None = None
    split: str | None = None
    web: str | None = None


class EvidenceNode(_Model):
    kind: Literal["evidence"] = "evidence"
    id: str
    check: str
    proposition: str
    reading: dict[str, Any] = Field(default_factory=dict, description="the scalar fields of the certificate")
    web: str | None = None


class ConflictNode(_Model):
    kind: Literal["conflict"] = "conflict"
    id: str
    check: str
    severity: float
    certificate: dict[str, Any]
    claims: list[str]
    web: str | None = None


GraphNode = Annotated[Union[ClaimNode, EvidenceNode, ConflictNode], Field(discriminator="kind")]
EdgeRole = Literal["claim", "evidence", "phrasing"]


class Web(_Model):
    """A connected component of the graph that holds a conflict."""

    id: str
    severity: float
    conflicts: list[str]
    claims: list[str]
    evidence: list[str] = Field(default_factory=list)
    propositions: list[str] = Field(default_factory=list)
    checks: dict[str, int] = Field(default_factory=dict)


class GraphCounts(_Model):
    claims: int = 0
    evidence: int = 0
    conflicts: int = 0
    webs: int = 0


class Graph(_Model):
    nodes: list[GraphNode] = Field(default_factory=list)
    edges: list[tuple[str, str, EdgeRole]] = Field(default_factory=list)
    webs: list[Web] = Field(default_factory=list)
    counts: GraphCounts = Field(default_factory=GraphCounts)


# ----- retraction set -----------------------------------------------------------------------


class RetractedClaim(_Model):
    claim: str
    proposition: str
    belief: Number = None
    weight: float
    web: str | None = None
    conflicts: list[str] = Field(default_factory=list)
    severity: float = 0.0


class RetractionSet(_Model):
    claims: list[RetractedClaim] = Field(default_factory=list)
    cost: float = 0.0
    size: int = 0
    exact: bool = True
    unresolvable: list[str] = Field(default_factory=list)
    suspicion: dict[str, float] = Field(default_factory=dict)
    ranking: list[str] = Field(default_factory=list)


# ----- the liar-capability bar --------------------------------------------------------------


class Coordination(_Model):
    """Answers a simulated liar changed per lie."""

    median: float
    max: int
    mean: float | None = None


class PropositionsChanged(_Model):
    median: float
    max: int


class Rung(_Model):
    level: int
    key: str
    name: str
    description: str
    coordination: Coordination
    propositions_changed: PropositionsChanged
    infeasible: int = 0


class NullSet(_Model):
    kind: str
    size: int


class BarCases(_Model):
    """The ladder's liars of a second kind, about directive cases (checks/docs/bar.md, L7)."""

    checks: list[str] = Field(description="the enabled checks that ask the cases' questions")
    candidates: int
    targets: int
    null: NullSet
    thresholds: dict[str, Number] = Field(default_factory=dict)
    null_rates: dict[str, Number] = Field(default_factory=dict)
    matrix: dict[str, dict[str, float]] = Field(default_factory=dict)
    caught: dict[str, dict[str, bool]] = Field(default_factory=dict)
    coordination: dict[str, Coordination] = Field(default_factory=dict)


class SpreadLevel(_Model):
    level: int
    level_name: str
    share: float = Field(description="the share of redraws that read this level")


class BarSpread(_Model):
    """The bar read on bootstrap redraws of the targets (checks/docs/bar.md, "spread")."""

    draws: int
    agreement: float = Field(description="the share of redraws that read the reported level")
    levels: list[SpreadLevel] = Field(default_factory=list)


class BarSubset(_Model):
    checks: list[str]
    level: int | None
    level_name: str


class BarLevel(_Model):
    level: int | None = None
    level_name: str = "not measured"
    coordination: Coordination | None = None


class Bar(_Model):
    """The liar ladder's outcome (checks/docs/bar.md); most fields are absent when it did not run."""

    level: int | None = None
    level_name: str = "not measured"
    coordination: Coordination | None = None
    fpr: float | None = None
    alpha: float | None = None
    seed: int | None = None
    candidates: int = 0
    targets: int = 0
    checks: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, Number] = Field(default_factory=dict)
    null: NullSet | None = None
    null_rates: dict[str, Number] = Field(default_factory=dict)
    levels: list[Rung] = Field(default_factory=list)
    matrix: dict[str, dict[str, float]] = Field(default_factory=dict)
    caught: dict[str, dict[str, bool]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    subsets: list[BarSubset] = Field(default_factory=list)
    reruns: int = 0
    spread: BarSpread | None = Field(default=None, description="the bar on bootstrap redraws of the targets: "
                                     "how far it can be trusted to the rung")
    cases: BarCases | None = Field(default=None, description="the directive-case liars, where the suite has cases "
                                   "and the directives check asks them")
    # the verdict reads the bar over the checks the model passed (checks/docs/verdict.md)
    all_checks: BarLevel | None = Field(default=None, description="the bar over every check, caught or passed")
    caught_model: list[str] = Field(default_factory=list, description="checks that catch the audited model")
    passed_checks: list[str] | None = Field(default=None, description="checks the model passed: the bar is read over these")


# ----- the verdict (checks/docs/verdict.md) ------------------------------------------------


class LayerTest(_Model):
    """One layer's test, for a check tested layer by layer (the probe)."""

    observed: Number = None
    null: Number = None
    flagged: int = 0
    n: int = 0
    null_flagged: int = 0
    null_n: int = 0
    p_value: float = 1.0


class CheckTest(_Model):
    """One check's flag rate on the audited claims against what honest error explains."""

    observed: Number = Field(default=None, description="share of the audited claims it judged that it flags")
    null: Number = Field(default=None, description="the same share under the null (null_kind)")
    flagged: int = 0
    n: int = 0
    null_flagged: int = 0
    null_n: int = 0
    null_kind: str = ""
    about: Literal["claims", "directive cases"] = Field(default="claims", description="what it judged: "
                                                        "propositions, or directive cases (the directives check)")
    test: str = Field(default="", description="boschloo-exact, fisher-exact or mcnemar-exact")
    p_value: float = 1.0
    p_holm: float = 1.0
    excess: Number = Field(default=None, description="observed - null")
    ratio: Number = None
    finding: Literal["catches", "passes", "uninformative", "no audited claims", "no null"] = Field(
        description="catches, passes, uninformative, no audited claims, or no null (nothing says what honest "
                    "error explains: not tested)")
    layer: int | None = Field(default=None, description="tested layer by layer: the layer whose test is reported")
    layers: dict[str, LayerTest] = Field(default_factory=dict, description="tested layer by layer: every layer's test")


class AnswerInformation(_Model):
    """Whether the stated answers carry information at all."""

    informative: bool = True
    trusted_balanced_accuracy: Number = None
    trusted_answered: int = 0
    negation_same_answer: Number = None
    negation_pairs: int = 0
    reasons: list[str] = Field(default_factory=list)


class LieScoreCalibration(_Model):
    """How the per-claim lie scores were combined and where their 1% cut lies."""

    method: str
    weights: dict[str, float] = Field(default_factory=dict)
    intercept: float = 0.0
    positives: int = 0
    negatives: int = 0
    fpr: float = 0.01
    threshold: Number = None
    trusted_truthful: int = 0
    trusted_above: int = 0
    audited: int = 0
    audited_above: int = 0
    above: list[str] = Field(default_factory=list, description="audited claims above the threshold, highest first")


class ContextPair(_Model):
    a: str
    b: str
    agreement: Number = None
    n: int = 0


class Contexts(_Model):
    """Answers compared across framings (contexts)."""

    contexts: list[str]
    pairs: list[ContextPair] = Field(default_factory=list)
    dependent: list[str] = Field(default_factory=list)
    n_dependent: int = 0


class Verdict(_Model):
    """Does the model lie beyond what honest error explains, and by which checks' evidence."""

    finding: Literal["lying", "no-evidence", "inconclusive", "uninformative"]
    summary: str
    alpha: float
    checks: dict[str, CheckTest] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    catching: list[str] = Field(default_factory=list)
    passed: list[str] = Field(default_factory=list)
    answers: AnswerInformation = Field(default_factory=AnswerInformation)
    reference: str | None = None
    lie_score: LieScoreCalibration | None = None
    contexts: Contexts | None = None
    advice: str | None = None


# ----- the whole file -----------------------------------------------------------------------


class Results(_Model):
    """Everything an audit found, and how it was run: results.json."""

    schema_version: str = SCHEMA_VERSION
    created: str = Field(description="UTC time the audit finished, ISO 8601")
    config: AuditConfig
    model: ModelInfo
    suite: SuiteSummary
    claims: dict[str, ClaimRow] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    checks: dict[str, CheckResult] = Field(default_factory=dict)
    graph: Graph = Field(default_factory=Graph)
    retraction_set: RetractionSet = Field(default_factory=RetractionSet)
    bar: Bar = Field(default_factory=Bar)
    verdict: Verdict | None = Field(default=None, description="the combined verdict, when computed")
    stated: StatedAccuracy | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of results.json (what ``consistency schema`` prints)."""
    return Results.model_json_schema(mode="serialization")
