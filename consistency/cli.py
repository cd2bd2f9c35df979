"""The ``consistency`` command line.

The ``audit`` options are generated from the settings in consistency/config.py. Every one can
also be set by an environment variable, ``CONSISTENCY_`` and the flag in capitals (e.g.
``CONSISTENCY_BATCH_SIZE=8``, ``CONSISTENCY_NO_LADDER=true``); the command line wins. User mistakes end with one
``error:`` line and exit status 2; a finished audit exits 0 whatever it found. Ctrl-C (SIGINT)
and SIGTERM end a command with one ``error:`` line and the shell's status for the signal (130,
143); the answers already cached are kept for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

from pydantic import ValidationError

from consistency.config import parse_integer
from consistency.errors import UserError
from consistency.schema import Results

EXIT_USER_ERROR = 2


def _add_audit_options(audit: argparse.ArgumentParser) -> None:
    """The audit's flags, generated from the settings' fields (consistency/config.py): each
    flag's type, help, default and environment variable are those the field states."""
    from consistency.config import STAGES, audit_options

    groups = {stage: audit.add_argument_group(stage.title) for stage in STAGES}
    for option in audit_options():
        shown = "" if option.switch or option.default in (None, [], {}) else f"default: {_shown(option.default)}; "
        help_text = f"{option.help} ({shown}env {option.env})".replace("%", "%%")
        group = groups[option.stage]
        if option.positional:
            group.add_argument(option.field, nargs="?", type=option.parse, default=argparse.SUPPRESS,
                               metavar=option.flag, help=help_text)
        elif option.switch:
            group.add_argument(option.flag, dest=option.field, action="store_const", const=not option.default,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(option.flag, dest=option.field, type=option.parse, default=argparse.SUPPRESS,
                               action="append" if option.repeat else "store", metavar=option.metavar, help=help_text)


def _shown(default: object) -> str:
    return ",".join(map(str, default)) if isinstance(default, list) else str(default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consistency", description="Audit a language-model checkpoint for lying.")
    commands = parser.add_subparsers(dest="command", required=True)

    audit = commands.add_parser("audit", help="ask a model a suite of related questions and check its answers")
    _add_audit_options(audit)

    report = commands.add_parser("report", help="re-render report.html from a run directory's results.json")
    report.add_argument("run_dir")
    report.add_argument("--out", help="where to write the HTML (default: RUN_DIR/report.html)")

    suite = commands.add_parser("suite", help="validate or export suites").add_subparsers(dest="suite_command", required=True)
    validate = suite.add_parser("validate", help="report every error with file, line and field")
    validate.add_argument("file")
    export = suite.add_parser("export", help="write a suite (e.g. builtin:arithmetic) as JSONL")
    export.add_argument("source")
    export.add_argument("--out", required=True)
    export.add_argument("--seed", type=parse_integer, default=0)

    commands.add_parser("checks", help="list the registered checks")
    commands.add_parser("schema", help="print the JSON Schema of results.json")

    # Listed here for --help; parsed by consistency.organisms.cli (see main), which imports torch.
    commands.add_parser("organism", help="train or measure a model organism (see 'consistency organism --help')")
    return parser


def _audit_config(args: argparse.Namespace):
    """The audit's configuration: the flags given, then the environment, then the defaults."""
    from consistency.config import audit_options, load_config

    given = {o.field: o.combine(vars(args)[o.field]) if o.repeat else vars(args)[o.field]
             for o in audit_options() if o.field in vars(args)}
    return load_config(given)


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
        log = (lambda message: None) if config.quiet else (lambda message: print(message, file=sys.stderr))
        results = run_audit(config, log=log, progress=not config.quiet)
        if not config.quiet:
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
            print(f"error: {args.file or repr(args.file)}: {len(exc.issues)} error(s)", file=sys.stderr)
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a batch scheduler's stop), raised where it lands."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _terminate_unwinds() -> Iterator[None]:
    """Inside the block SIGTERM unwinds like Ctrl-C (temporary files removed, cached answers
    kept, one line said) instead of ending the process on the spot, silently.

    Only where SIGTERM has its default action: a caller that ignores or handles it keeps its
    choice (and threads other than the main one cannot set handlers).
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _terminate_unwinds():
            if argv[:1] == ["organism"]:
                # Delegated whole, so that other commands never pay for importing torch and transformers.
                from consistency.organisms.cli import main as organism_main

                return organism_main(argv)
            return _run(build_parser().parse_args(argv))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "config"
        print(f"error: {where}: {first['msg']}", file=sys.stderr)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"error: {'terminated' if terminated else 'interrupted'}; answers computed so far are in the run's cache "
              "and will be reused", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)  # the shell's status for a signal
    except UserError as exc:
        for issue in getattr(exc, "issues", [])[1:]:  # the first is in the message
            print(issue, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
    return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
