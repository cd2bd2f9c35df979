"""The versioned results.json schema: everything an audit found, and how it was run.

Bump ``SCHEMA_VERSION``'s major number on any change that breaks readers (a renamed or
removed field); add fields freely within a major version.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from consistency.errors import UserError
from consistency.files import write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)

SCHEMA_VERSION = "1.0"
_SUPPORTED_MAJOR = SCHEMA_VERSION.split(".")[0]


class ResultsError(UserError):
    """A results.json that cannot be read (missing, malformed, or from an unknown schema)."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("consistency", "torch", "transformers", "numpy", "scipy", "networkx", "z3-solver"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results.json (or a run directory holding one), checking the schema version."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file (is this a run directory written by 'consistency audit'?)") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:  # an integer over 4,300 digits
        raise ResultsError(f"{path}: unreadable JSON value: {str(exc).split(';')[0]}") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(results, dict):
        raise ResultsError(f"{path}: must hold a JSON object, got {type(results).__name__}")
    version = str(results.get("schema_version", ""))
    if version.split(".")[0] != _SUPPORTED_MAJOR:
        raise ResultsError(f"{path}: schema_version {version!r} is not readable by this version (reads {SCHEMA_VERSION})")
    return results
