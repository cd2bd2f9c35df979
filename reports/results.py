"""Reading and writing results.json, whose schema is :mod:`consistency.schema`.

The file is written once, from a validated :class:`Results`, and read back validated: a
field of the wrong type or a file that is not results.json is one ``error:`` line naming
the field. Files of an older schema version are migrated on reading.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from consistency.errors import UserError
from consistency.files import write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)
from consistency.schema import SCHEMA_VERSION, Results

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


def write_results(path: str | Path, results: Results) -> None:
    """Serialise ``results`` (the one place results.json is encoded), atomically."""
    write_json_atomic(path, results.model_dump(mode="json"))


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a results.json of an older schema version up to :data:`SCHEMA_VERSION`.

    1.0 -> 1.1: each check's result also names its check (1.0 had it only as the key); the
    new optional fields (``verdict``, ``claims[*].lie_score``) take their defaults.
    """
    checks = data.get("checks")
    if isinstance(checks, dict):
        checks = {name: {"check": name, **result} if isinstance(result, dict) else result
                  for name, result in checks.items()}
    return {**data, "checks": checks, "schema_version": SCHEMA_VERSION}


def _field(location: tuple[int | str, ...]) -> str:
    """``checks.logic.metrics.r1`` from pydantic's error location, without the graph nodes'
    union tag (``graph.nodes.3.claim.belief`` is ``graph.nodes.3.belief``)."""
    parts = [str(p) for i, p in enumerate(location) if not (i >= 2 and location[i - 2] == "nodes")]
    return ".".join(parts) or "(top level)"


def load_results(path: str | Path) -> Results:
    """Read a results.json (or a run directory holding one), validated and migrated."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file (is this a run directory written by 'consistency audit'?)") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:  # an integer over 4,300 digits
        raise ResultsError(f"{path}: unreadable JSON value: {str(exc).split(';')[0]}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, found {type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, str) or version.split(".")[0] != _SUPPORTED_MAJOR:
        raise ResultsError(f"{path}: schema_version {version!r} is not readable by this version (reads {SCHEMA_VERSION})")
    if version != SCHEMA_VERSION:
        data = migrate(data)
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ResultsError(f"{path}: field {_field(first['loc'])}: {first['msg']}{more}") from None
