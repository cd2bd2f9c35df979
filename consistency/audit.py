"""The audit pipeline: suite -> queries -> engine -> checks -> aggregate -> results.json + report.

Everything that can be wrong with the user's input (the suite, the check names, the
answers file) is checked before any model is loaded, so a typo costs seconds, not a
model load.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Literal

import checks as check_registry
from checks.base import Check, CheckResult, RunContext, run_checks
from consistency.adapters.base import Adapter
from consistency.answers import Answers
from consistency.config import AuditConfig, ChecksSettings, ElicitationSettings, LadderSettings
from consistency.errors import UserError
from consistency.fitcache import FitCache
from consistency.generators import builtin_suite
from consistency.organisms import resolve_model
from consistency.stated import trusted_accuracy, trusted_queries
from consistency.rundir import REPORT, RESULTS, claim_run_directory
from consistency.schema import GGUFInfo, StatedAccuracy, ClaimRow, FramingInfo, ModelInfo, Results, SuiteSummary, Timings
from consistency.suite import Framing, Suite, load_csv, load_jsonl
from reports.results import now_iso, package_versions, write_results

Log = Callable[[str], None]


def load_suite(source: str, seed: int = 0) -> Suite:
    """A suite from ``builtin:<name>``, a statement,label ``.csv``, or a JSONL file."""
    if source.startswith("builtin:"):
        return builtin_suite(source.removeprefix("builtin:"), seed)
    if source.lower().endswith(".csv"):
        return load_csv(source, seed=seed)
    return load_jsonl(source)


def prepare_suite(config: AuditConfig) -> Suite:
    """Load, limit, and apply the command line's templates and answer words."""
    suite = load_suite(config.suite, config.seed)
    if config.limit:
        suite = suite.limited(config.limit)
    if config.templates or config.negated_templates:
        suite.framings = tuple(
            [Framing(f"template{i}", t) for i, t in enumerate(config.templates)]
            + [Framing(f"negated{i}", t, negated=True) for i, t in enumerate(config.negated_templates)]
        )
        if all(f.negated for f in suite.framings):
            raise UserError("give at least one --template that is not negated")
    if config.yes_words:
        suite.answer_words = {**suite.answer_words, "yes": config.yes_words}
    if config.no_words:
        suite.answer_words = {**suite.answer_words, "no": config.no_words}
    suite.shots, suite.shot_seed = config.shots, config.seed
    suite.check_shots()
    return suite


def build_checks(settings: ChecksSettings, weak_answers: Answers | None = None) -> list[Check]:
    """The enabled checks with their options; ``weak_answers`` feed the w2s-copies' weak labels."""
    names = check_registry.available() if settings.checks == ["all"] else settings.checks
    unknown_options = set(settings.check_options) - set(names)
    if unknown_options:
        raise UserError(f"options given for checks that are not enabled: {sorted(unknown_options)}")
    options = {name: dict(settings.check_options.get(name, {})) for name in names}
    if "w2s-copies" in options:
        if weak_answers is not None:
            options["w2s-copies"].update(weak_source="answers", weak_answers=weak_answers)
        elif settings.weak_noise is not None:
            options["w2s-copies"].update(weak_source="noise", weak_noise=settings.weak_noise)
    return [check_registry.get(name, **options[name]) for name in names]


def weak_model_answers(config: AuditConfig, suite: Suite) -> Answers:
    """The weak model's answers to the w2s-copies' questions (no hidden states needed)."""
    from consistency.engine import elicit

    assert config.weak_model is not None
    weak = build_adapter(config.weak_model, config, suite, layers=[0])
    try:
        return elicit(weak, check_registry.get("w2s-copies").queries(suite))
    finally:
        release(weak)


def build_adapter(
    model: str, settings: ElicitationSettings, suite: Suite, layers: list[int] | Literal["auto"] | None = None
) -> Adapter:
    """The adapter that asks ``model`` under the elicitation stage's settings (``layers``, when
    given, replaces theirs: the weak model and the reference need no hidden states)."""
    options: dict[str, Any] = dict(
        path_or_id=resolve_model(model),
        answer_words=suite.answer_words,
        layers=settings.layers if layers is None else layers,
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size,
        trust_remote_code=settings.trust_remote_code,
        chat=settings.chat,
        device_map=settings.device_map,
        # accelerate names GPUs by index: "0" -> 0
        max_memory={int(k) if k.isdigit() else k: v for k, v in settings.max_memory.items()} or None,
        load_in=settings.load_in,
        compile=settings.compile,
    )
    if settings.backend == "ray":
        from consistency.engine_ray import RayAdapterPool  # imports ray: only when asked for

        return RayAdapterPool(options, address=settings.ray_address, workers=settings.ray_workers)
    from consistency.adapters.hf import HFAdapter  # imports torch: only when a model is audited

    return HFAdapter(**options)


def release(adapter: Adapter) -> None:
    """Stop a pool's workers once its answers are in (a Ray pool holds a GPU per worker)."""
    close = getattr(adapter, "close", None)
    if close is not None:
        close()


def collect_queries(suite: Suite, enabled: list[Check], hidden: bool):
    """Every query any check needs, and those whose hidden states are needed."""
    queries, hidden_for = [], []
    for check in enabled:
        asked = list(check.queries(suite))
        queries += asked
        if hidden and check.needs_hidden:
            hidden_for += asked
    return queries, hidden_for


def explained(suite: Suite, enabled: list[Check], adapter: Adapter, cache, log: Log) -> Suite:
    """The suite plus the model's own explanations, when the critique check asks for them
    (its ``explain`` option) and the adapter can generate."""
    from consistency.engine import elicit

    critique = next((c for c in enabled if c.name == "critique"), None)
    wanted = getattr(critique, "explain", 0)
    if not wanted:
        return suite
    if not hasattr(adapter, "generate"):
        log("critique: this adapter cannot generate, so only the suite's explanations are used")
        return suite

    def beliefs_of(queries):
        answers = elicit(adapter, queries, cache=cache)
        return [answers.belief(q) for q in queries]

    log(f"critique: asking the model to explain up to {wanted} answers")
    return critique.with_explanations(suite, adapter.generate, beliefs_of)  # type: ignore[union-attr]


def run_audit(config: AuditConfig, log: Log = print, progress: bool = True) -> Results:
    """Run a whole audit and write ``results.json`` (and ``report.html``) into ``config.out``."""
    from consistency.engine import elicit

    started = time.perf_counter()
    out = Path(config.out)
    suite = prepare_suite(config)
    checks_settings = config.stage(ChecksSettings)
    enabled = build_checks(checks_settings)  # unknown names and options fail here, before any model loads
    claim_run_directory(config)  # another run's results are refused (or, with --overwrite, removed)
    if config.weak_model:
        enabled = build_checks(checks_settings, weak_model_answers(config, suite))
    if config.answers:
        from consistency.adapters.recorded import load_recorded_answers

        answers = load_recorded_answers(config.answers, suite)
        model_info = ModelInfo(name=config.answers, adapter="answers", fingerprint=answers.source)
        elicit_seconds = explain_seconds = 0.0
    else:
        assert config.model is not None  # without --answers there is a model (RunSettings' default)
        adapter = build_adapter(config.model, config.stage(ElicitationSettings), suite)
        cache = None
        if config.cache:
            from consistency.cache import AnswerCache

            cache = AnswerCache(out / "cache", adapter.fingerprint)
        try:
            start = time.perf_counter()
            suite = explained(suite, enabled, adapter, cache, log)
            explain_seconds = time.perf_counter() - start
            queries, hidden_for = collect_queries(suite, enabled, adapter.supports_hidden)
            queries += trusted_queries(suite)  # for the trusted accuracy of every framing
            log(f"asking {len(set(q.prompt for q in queries))} distinct prompts of {config.model}")
            start = time.perf_counter()
            answers = elicit(adapter, queries, hidden_for, cache=cache, progress=progress)
            elicit_seconds = time.perf_counter() - start
        finally:
            release(adapter)
        gguf_file = getattr(adapter, "gguf", None)
        gguf = GGUFInfo(file=gguf_file.name, sha256=getattr(adapter, "gguf_sha256", "")) if gguf_file else None
        model_info = ModelInfo(
            name=str(config.model), adapter="hf", fingerprint=adapter.fingerprint,
            chat=getattr(adapter, "chat", None), gguf=gguf,
        )
    context = RunContext(seed=config.seed, layers=tuple(answers.layers), fits=FitCache(enabled=config.fit_cache))
    results, check_seconds = run_checks(suite, answers, enabled, context, log)

    from consistency.aggregate import aggregate, contradictions
    from consistency.ladder import Redraws, run_ladder

    start = time.perf_counter()
    found = contradictions(suite, answers, enabled, results, config.min_severity)
    simulated: dict[str, dict[str, dict[str, float]]] = {}
    redraws = Redraws()
    bar = run_ladder(suite, answers, enabled, results, context, config.stage(LadderSettings), found.implicated, simulated,
                     redraws)
    reference, reference_name = reference_results(config, suite, enabled, context, progress, log)
    lie_scores: dict[str, float] = {}
    aggregated = aggregate(suite, answers, enabled, results, found, bar, simulated, config.min_severity,
                           reference, reference_name, lie_scores, redraws)
    aggregate_seconds = time.perf_counter() - start

    payload = Results(
        created=now_iso(),
        config=config,
        model=model_info,
        suite=suite_summary(suite, config.suite),
        claims=claim_table(suite, answers, lie_scores),
        versions=package_versions(),
        timings=Timings(
            elicit_s=round(elicit_seconds, 4),
            explain_s=round(explain_seconds, 4),
            checks_s=check_seconds,
            aggregate_s=round(aggregate_seconds, 4),
            total_s=round(time.perf_counter() - started, 4),
        ),
        stated=StatedAccuracy.model_validate(trusted_accuracy(suite, answers)),
        checks=results,
        **aggregated,
    )
    write_results(out / RESULTS, payload)
    if config.report:
        from reports.html import write_report

        write_report(payload, out / REPORT)
    else:
        (out / REPORT).unlink(missing_ok=True)  # it would show an earlier audit's results
    return payload


def suite_summary(suite: Suite, source: str) -> SuiteSummary:
    return SuiteSummary(
        name=suite.name,
        source=source,
        propositions=len(suite.propositions),
        relations=len(suite.relations),
        conditionals=len(suite.conditionals),
        decompositions=len(suite.decompositions),
        framings=[FramingInfo(name=f.name, template=f.template, negated=f.negated) for f in suite.framings],
    )


def claim_table(suite: Suite, answers: Answers, lie_scores: dict[str, float] | None = None) -> dict[str, ClaimRow]:
    """Each proposition's text, split, truth, belief under the primary framing and lie score."""
    lie_scores = lie_scores or {}
    return {
        pid: ClaimRow(text=prop.text, split=prop.split, truth=prop.truth, belief=answers.belief(suite.query(pid)),
                      lie_score=lie_scores.get(pid))
        for pid, prop in suite.propositions.items()
    }


def reference_suite(config: AuditConfig, suite: Suite) -> Suite:
    """The suite as the reference is asked it: with ``--reference-template``, its framings
    replaced by those templates (and the reference's answer words); otherwise unchanged."""
    if not config.reference_templates:
        return suite
    framings = tuple(Framing(f"reference{i}", t) for i, t in enumerate(config.reference_templates))
    words = dict(suite.answer_words)
    if config.reference_yes_words:
        words["yes"] = config.reference_yes_words
    if config.reference_no_words:
        words["no"] = config.reference_no_words
    return dataclasses.replace(suite, framings=framings, answer_words=words)


def reference_results(
    config: AuditConfig, suite: Suite, enabled: list[Check], context: RunContext, progress: bool, log: Log
) -> tuple[dict[str, CheckResult] | None, str]:
    """The answer-level checks run on the reference's answers to the same questions, or None.

    The reference is another model (``--reference``, e.g. the checkpoint before fine-tuning) or
    the audited model in another context (``--reference-template``). Hidden-state checks keep
    their own null (the trusted split) and are not asked of the reference.
    """
    if not (config.reference or config.reference_templates):
        return None, ""
    from consistency.engine import elicit

    asked = reference_suite(config, suite)
    model = config.reference or config.model
    if model is None:
        raise UserError("--reference-template needs a model to ask; it cannot re-ask recorded --answers")
    name = model if config.reference else f"{model} under {', '.join(repr(t) for t in config.reference_templates)}"
    answer_level = [c for c in enabled if not c.needs_hidden]
    adapter = build_adapter(model, config, asked, layers=[0])
    queries = [q for c in answer_level for q in c.queries(asked)]
    log(f"asking the reference {name}: {len(set(q.prompt for q in queries))} distinct prompts")
    try:
        answers = elicit(adapter, queries, [], progress=progress)
    finally:
        release(adapter)
    results, _ = run_checks(asked, answers, answer_level, context, log)
    return results, name
