"""The run directory: one audit's results, never silently mixed with another's.

An audit first claims its ``--out`` directory by writing ``run.json`` (the configuration that
decides its results). Running the same configuration again resumes it (the answer cache keeps
what was computed); a directory that holds another run's results, or files that are not an
audit's, is refused unless ``--overwrite`` is given, and then that run's results and report
are removed before anything else is written. The answer cache stays: it is keyed by model
fingerprint, so another run's cached answers are never read as this one's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consistency.config import AuditConfig
from consistency.errors import UserError
from consistency.files import write_json_atomic

RUN_FILE = "run.json"
RESULTS = "results.json"
REPORT = "report.html"
CACHE = "cache"
# Settings that change where or how results are shown or stored, or how fast they come, never
# what they are (the fit cache gives the results a fresh fit would).
NOT_IDENTITY = {"out", "report", "overwrite", "cache", "fit_cache"}


def run_identity(config: AuditConfig) -> dict[str, Any]:
    """The configuration that decides a run's results."""
    return {k: v for k, v in config.model_dump(mode="json").items() if k not in NOT_IDENTITY}


def _previous_identity(out: Path) -> dict[str, Any] | None:
    """The identity of the run ``out`` holds (from run.json, else results.json), or None."""
    for name, field in ((RUN_FILE, "config"), (RESULTS, "config")):
        try:
            config = json.loads((out / name).read_text(encoding="utf-8"))[field]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(config, dict):
            return {k: v for k, v in config.items() if k not in NOT_IDENTITY}
    return None


def _difference(previous: dict[str, Any], current: dict[str, Any]) -> str:
    for key in sorted(set(previous) | set(current)):
        if previous.get(key) != current.get(key):
            return f"{key} {json.dumps(previous.get(key))} there, {json.dumps(current.get(key))} now"
    return "no difference"


def claim_run_directory(config: AuditConfig) -> None:
    """Make ``config.out`` this run's directory before any work, or refuse with one line."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory for the run's results")
    identity = run_identity(config)
    if out.is_dir() and any(out.iterdir()):
        previous = _previous_identity(out)
        if previous != identity:
            if not config.overwrite:
                if previous is None:
                    held = f"files that are not an audit's (e.g. {min(p.name for p in out.iterdir())!r})"
                elif (out / RESULTS).exists():
                    held = f"another run's results ({_difference(previous, identity)})"
                else:  # claimed by an audit that was interrupted, or is running now
                    held = f"an unfinished audit of another configuration ({_difference(previous, identity)})"
                raise UserError(f"--out {out} holds {held}; pass --overwrite to replace them (the answer cache is "
                                "kept and reused), or choose another --out")
            for name in (RESULTS, REPORT, RUN_FILE):
                (out / name).unlink(missing_ok=True)
    write_json_atomic(out / RUN_FILE, {"config": identity})
