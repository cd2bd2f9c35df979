"""The audit configuration: typed, validated, and saved with every run (in results.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MODEL = "organism:consistent-liar"


class AuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None, description="checkpoint directory, cached hub id, or organism:<kind>; None with --answers"
    )
    answers: str | None = Field(None, description="JSONL of recorded credences, instead of a model")
    suite: str = Field("builtin:organism", description="suite file (.jsonl or statement,label .csv) or builtin:<name>")
    checks: list[str] = Field(default_factory=lambda: ["all"], description="check names, or 'all' registered")
    out: str = Field("runs/audit", description="run directory: results.json, report.html, cache/")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int | Literal["auto"] = "auto"
    layers: list[int] | Literal["auto"] = "auto"
    limit: int | None = Field(None, ge=1, description="at most this many propositions per split")
    seed: int = 0
    templates: list[str] = Field(
        default_factory=list, description="question templates with {statement}, replacing the suite's framings"
    )
    negated_templates: list[str] = Field(
        default_factory=list, description="templates that ask whether {statement} is false (answer inverted)"
    )
    yes_words: list[str] = Field(default_factory=list, description="override the suite's 'yes' answer words")
    no_words: list[str] = Field(default_factory=list, description="override the suite's 'no' answer words")
    weak_model: str | None = Field(
        None, description="a weaker model whose answers on the trusted split are the w2s-copies' weak labels"
    )
    weak_noise: float | None = Field(
        None, ge=0, lt=0.5, description="simulate weak labels by flipping this share of the truth (demos)"
    )
    reference: str | None = Field(
        None, description="a reference model asked the same questions (e.g. the checkpoint before fine-tuning)"
    )
    reference_templates: list[str] = Field(
        default_factory=list, description="the audited model in another context: templates the reference is asked with"
    )
    reference_yes_words: list[str] = Field(default_factory=list, description="the reference context's 'yes' words")
    reference_no_words: list[str] = Field(default_factory=list, description="the reference context's 'no' words")
    trust_remote_code: bool = False
    chat: Literal["auto", "on", "off"] = Field(
        "auto", description="wrap questions in the tokenizer's chat template (auto: when it has one)"
    )
    shots: int = Field(0, ge=0, description="solved trusted-split examples put in front of each question")
    ladder: bool = Field(True, description="run the simulated liars and compute the bar")
    ladder_targets: int = Field(200, ge=1, description="target claims the simulated liars lie about")
    ladder_fpr: float = Field(0.01, gt=0, lt=1, description="false-positive rate of each check's threshold")
    min_severity: float = Field(0.1, ge=0, le=1, description="conflicts below it stay out of the graph")
    cache: bool = True
    fit_cache: bool = Field(
        True, description="reuse fits, repairs and check re-runs whose inputs a simulated liar left unchanged "
        "(--no-fit-cache computes each again; the results are the same)"
    )
    report: bool = True
    overwrite: bool = Field(False, description="replace another run's results in --out")
    check_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("templates", "negated_templates", "reference_templates")
    @classmethod
    def _one_placeholder(cls, templates: list[str]) -> list[str]:
        for template in templates:
            if template.count("{statement}") != 1:
                raise ValueError(f"template {template!r} must contain '{{statement}}' exactly once")
        return templates

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("batch size must be a positive integer or 'auto'")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "AuditConfig":
        if self.answers and self.model:
            raise ValueError("give a model or --answers, not both")
        if not self.answers and not self.model:
            self.model = DEFAULT_MODEL
        return self
