"""Baseline files: a model's known inconsistencies, reviewed and accepted, like a linter's baseline.

A baseline names structures by :attr:`Structure.key`. Property tests never draw them and
budgets never count them, so a failure is always something new. It is written by running
the tests once with ``--consistency-write-baseline FILE`` (every structure that fails on its
own under the tests' own checks and limits) and read with ``--consistency-baseline FILE``.
Regression testing: test each new checkpoint against the baseline of the trusted one.

The file is JSON, one accepted structure per line (key: why it failed, and its claims), so a
review reads it and a diff shows what changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from consistency.errors import UserError
from consistency.files import write_text_atomic
from consistency.testing.pool import ClaimPool

FORMAT = 1
NOTE_CHARS = 300  # an exclusivity over twelve cities would otherwise fill a screen per line


def read_baseline(path: Path) -> dict[str, str]:
    """The accepted structures of a baseline file (key -> note); one-line errors for bad files."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"consistency baseline {str(path)!r}: no such file (write one with --consistency-write-baseline)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"consistency baseline {str(path)!r}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("consistency_baseline") != FORMAT or not isinstance(data.get("accepted"), dict):
        raise UserError(f"consistency baseline {str(path)!r}: not a baseline file (format {FORMAT})")
    return {str(k): str(v) for k, v in data["accepted"].items()}


def write_baseline(path: Path, pool: ClaimPool, accepted: Mapping[str, str], model: str, claims: str) -> None:
    """Write ``accepted`` (key -> why) with a note naming each structure's claims."""
    notes = {}
    for key in sorted(accepted, key=lambda k: pool.by_key.get(k, -1)):  # simplest first, as the pool
        structure = pool.structures[pool.by_key[key]]
        note = f"{accepted[key]} -- {structure.kind}: " + "; ".join(p.text for p in structure.propositions)
        notes[key] = note if len(note) <= NOTE_CHARS else note[: NOTE_CHARS - 3] + "..."
    data = {"consistency_baseline": FORMAT, "model": model, "claims": claims, "accepted": notes}
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
