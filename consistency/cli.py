"""The ``consistency`` command line.

Every ``audit`` option can also be set by an environment variable, ``CONSISTENCY_<OPTION>``
(e.g. ``CONSISTENCY_BATCH_SIZE=8``); the command line wins. User mistakes end with one
``error:`` line and exit status 2; a finished audit exits 0 whatever it found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from pydantic import ValidationError

from consistency.errors import UserError
from consistency.schema import Results

EXIT_USER_ERROR = 2


def _env(option: str, default: Any = None) -> Any:
    return os.environ.get("CONSISTENCY_" + option.upper().replace("-", "_"), default)


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()] if value else []


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None


def _layers(text: str) -> list[int] | str:
    """``auto`` or comma-separated layer numbers."""
    if text.strip() == "auto":
        return "auto"
    try:
        return [int(item) for item in _list(text)] or "auto"
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or comma-separated layer numbers, got {text[:40]!r}") from None


def _check_option(text: str) -> tuple[str, str, Any]:
    """``CHECK.KEY=VALUE``, the value parsed as JSON when it is JSON (numbers, booleans, lists)."""
    target, sep, raw = text.partition("=")
    check, dot, key = target.partition(".")
    if not sep or not dot or not check or not key:
        raise argparse.ArgumentTypeError(f"expected CHECK.KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return check, key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consistency", description="Audit a language-model checkpoint for lying.")
    commands = parser.add_subparsers(dest="command", required=True)

    audit = commands.add_parser("audit", help="ask a model a suite of related questions and check its answers")
    audit.add_argument("model", nargs="?", default=_env("model"),
                       help="checkpoint directory, cached hub id, or organism:<honest|naive-liar|consistent-liar> "
                            "(default: organism:consistent-liar)")
    audit.add_argument("--answers", default=_env("answers"), help="audit recorded answers (JSONL) instead of a model")
    audit.add_argument("--suite", default=_env("suite", "builtin:organism"),
                       help="suite .jsonl, statement,label .csv, or builtin:<arithmetic|comparisons|organism>")
    audit.add_argument("--checks", default=_env("checks", "all"), help="comma-separated check names (default: all)")
    audit.add_argument("--out", default=_env("out", "runs/audit"), help="run directory (default: runs/audit)")
    audit.add_argument("--device", default=_env("device", "auto"), choices=["auto", "cpu", "cuda"])
    audit.add_argument("--dtype", default=_env("dtype", "auto"), choices=["auto", "float32", "bfloat16", "float16"])
    audit.add_argument("--batch-size", default=_env("batch_size", "auto"), help="'auto' or a positive integer")
    audit.add_argument("--layers", type=_layers, default=_env("layers", "auto"),
                       help="'auto' or comma-separated layer numbers (0 = embeddings)")
    audit.add_argument("--limit", type=_integer, default=_env("limit"), help="at most N propositions per split")
    audit.add_argument("--seed", type=_integer, default=_env("seed", "0"))
    audit.add_argument("--template", action="append", default=_list(_env("template")),
                       help="question template with {statement}; repeat for several framings")
    audit.add_argument("--negated-template", action="append", default=[],
                       help="template asking whether {statement} is false (its answer is inverted)")
    audit.add_argument("--yes", default=_env("yes"), help="comma-separated 'yes' answer words")
    audit.add_argument("--no", default=_env("no"), help="comma-separated 'no' answer words")
    audit.add_argument("--option", action="append", type=_check_option, default=[], metavar="CHECK.KEY=VALUE",
                       help="an option for one check, e.g. probe.fpr=0.05")
    audit.add_argument("--ladder-targets", type=_integer, default=_env("ladder_targets", "200"),
                       help="claims the simulated liars lie about (default 200)")
    audit.add_argument("--ladder-fpr", type=_number, default=_env("ladder_fpr", "0.01"),
                       help="false-positive rate at which each check's threshold is set (default 0.01)")
    audit.add_argument("--no-ladder", action="store_true", help="skip the simulated liars and the bar")
    audit.add_argument("--min-severity", type=_number, default=_env("min_severity", "0.1"),
                       help="conflicts below this severity stay out of the graph (default 0.1)")
    audit.add_argument("--weak-model", default=_env("weak_model"),
                       help="a weaker model whose answers are the w2s-copies' weak labels (default: the suite's 'weak')")
    audit.add_argument("--weak-noise", type=_number, default=_env("weak_noise"),
                       help="simulate weak labels: the truth with this share flipped (for demos)")
    audit.add_argument("--chat", default=_env("chat", "auto"), choices=["auto", "on", "off"],
                       help="ask through the tokenizer's chat template (auto: when it has one)")
    audit.add_argument("--shots", type=int, default=int(_env("shots", 0)),
                       help="K solved trusted-split examples (balanced true/false) before each question")
    audit.add_argument("--reference", default=_env("reference"),
                       help="a reference model asked the same questions (e.g. the checkpoint before fine-tuning); "
                            "the answer-level checks' null becomes its flags on the same audited claims")
    audit.add_argument("--reference-template", action="append", default=[],
                       help="the audited model in another context (a system prompt, a persona) as the reference: "
                            "a template with {statement}; repeat for several")
    audit.add_argument("--reference-yes", default=None, help="comma-separated 'yes' words in the reference context")
    audit.add_argument("--reference-no", default=None, help="comma-separated 'no' words in the reference context")
    audit.add_argument("--trust-remote-code", action="store_true", help="allow the checkpoint's own Python code")
    audit.add_argument("--no-cache", action="store_true", help="do not read or write the answer cache")
    audit.add_argument("--no-report", action="store_true", help="write results.json only")
    audit.add_argument("--overwrite", action="store_true",
                       help="replace another run's results in --out (the same configuration resumes without it)")
    audit.add_argument("--quiet", action="store_true", default=bool(_env("quiet")),
                       help="no progress bars or summary (for CI)")

    report = commands.add_parser("report", help="re-render report.html from a run directory's results.json")
    report.add_argument("run_dir")
    report.add_argument("--out", help="where to write the HTML (default: RUN_DIR/report.html)")

    suite = commands.add_parser("suite", help="validate or export suites").add_subparsers(dest="suite_command", required=True)
    validate = suite.add_parser("validate", help="report every error with file, line and field")
    validate.add_argument("file")
    export = suite.add_parser("export", help="write a suite (e.g. builtin:arithmetic) as JSONL")
    export.add_argument("source")
    export.add_argument("--out", required=True)
    export.add_argument("--seed", type=_integer, default=0)

    commands.add_parser("checks", help="list the registered checks")
    commands.add_parser("schema", help="print the JSON Schema of results.json")

    # Listed here for --help; parsed by consistency.organisms.cli (see main), which imports torch.
    commands.add_parser("organism", help="train or measure a model organism (see 'consistency organism --help')")
    return parser


def _audit_config(args: argparse.Namespace):
    from consistency.config import AuditConfig

    options: dict[str, dict[str, Any]] = {}
    for check, key, value in args.option:
        options.setdefault(check, {})[key] = value
    batch = args.batch_size
    return AuditConfig(
        model=args.model,
        answers=args.answers,
        suite=args.suite,
        checks=_list(args.checks) or ["all"],
        out=args.out,
        device=args.device,
        dtype=args.dtype,
        batch_size=int(batch) if str(batch).isdigit() else batch,
        layers=args.layers,
        limit=args.limit,
        seed=args.seed,
        templates=args.template,
        negated_templates=args.negated_template,
        yes_words=_list(args.yes),
        no_words=_list(args.no),
        weak_model=args.weak_model,
        weak_noise=args.weak_noise,
        reference=args.reference,
        reference_templates=args.reference_template,
        reference_yes_words=_list(args.reference_yes),
        reference_no_words=_list(args.reference_no),
        trust_remote_code=args.trust_remote_code,
        chat=args.chat,
        shots=args.shots,
        ladder=not args.no_ladder,
        ladder_targets=args.ladder_targets,
        ladder_fpr=args.ladder_fpr,
        min_severity=args.min_severity,
        cache=not args.no_cache,
        report=not args.no_report,
        overwrite=args.overwrite,
        check_options=options,
    )


def _quiet_transformers() -> None:
    """Weight-loading bars and warnings from transformers are noise next to our own progress."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # the answers adapter works without transformers
        return
    hf_logging.disable_progress_bar()


def _print_summary(results: Results) -> None:
    rows = []
    for name, check in results.checks.items():
        if check.skipped:
            rows.append((name, "skipped", check.skipped))
            continue
        metrics = ", ".join(f"{k}={v:.3g}" for k, v in list(check.metrics.items())[:4] if v is not None)
        rows.append((name, f"{len(check.conflicts)} conflicts", metrics))
    width = max(len(r[0]) for r in rows) if rows else 0
    print()
    for name, count, metrics in rows:
        print(f"  {name:<{width}}  {count:<14} {metrics}")
    stated = results.stated
    if stated is not None and stated.framings:
        accuracy = ", ".join(f"{name} {row.accuracy:.2f}" for name, row in stated.framings.items() if row.n)
        print(f"\n  trusted accuracy ({stated.n_trusted} statements, {stated.shots} shots): {accuracy}")
        if stated.warning:
            print(f"  warning: {stated.warning}")
    if results.verdict:
        print(f"\n  finding: {results.verdict.finding}: {results.verdict.summary}")
    print(f"  liar-capability bar: {results.bar.level_name}")
    print(f"\n  results: {os.path.join(results.config.out, 'results.json')}")
    if results.config.report:
        print(f"  report:  {os.path.join(results.config.out, 'report.html')}")


def _run(args: argparse.Namespace) -> int:
    if args.command == "audit":
        from consistency.audit import run_audit

        config = _audit_config(args)
        _quiet_transformers()
        log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
        results = run_audit(config, log=log, progress=not args.quiet)
        if not args.quiet:
            _print_summary(results)
        return 0
    if args.command == "report":
        from reports.html import write_report
        from reports.results import load_results

        results = load_results(args.run_dir)
        target = args.out or os.path.join(args.run_dir, "report.html")
        write_report(results, target)
        print(target)
        return 0
    if args.command == "suite":
        return _suite_command(args)
    if args.command == "schema":
        from consistency.schema import json_schema

        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.command == "checks":
        import checks

        for name in checks.available():
            print(name)
        return 0
    raise AssertionError(f"unhandled command {args.command!r}")


def _suite_command(args: argparse.Namespace) -> int:
    from consistency.audit import load_suite
    from consistency.suite import SuiteError

    if args.suite_command == "validate":
        try:
            suite = load_suite(args.file)
        except SuiteError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            print(f"error: {args.file}: {len(exc.issues)} error(s)", file=sys.stderr)
            return EXIT_USER_ERROR
        print(
            f"{args.file}: ok ({len(suite.propositions)} propositions, {len(suite.relations)} relations, "
            f"{len(suite.conditionals)} conditionals, {len(suite.decompositions)} decompositions)"
        )
        return 0
    suite = load_suite(args.source, args.seed)
    suite.save(args.out)
    print(f"wrote {args.out} ({len(suite.propositions)} propositions)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["organism"]:
            # Delegated whole, so that other commands never pay for importing torch and transformers.
            from consistency.organisms.cli import main as organism_main

            return organism_main(argv)
        return _run(build_parser().parse_args(argv))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "config"
        print(f"error: {where}: {first['msg']}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted; answers computed so far are in the run's cache and will be reused", file=sys.stderr)
        return 130
    except UserError as exc:
        for issue in getattr(exc, "issues", [])[1:]:  # the first is in the message
            print(issue, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
    return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
