"""A plain (non-editable) install carries everything the package reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("consistency", "checks", "probes", "reports")


def test_the_wheel_ships_definitions_template_and_organisms(tmp_path: Path):
    # Built from a copy: an in-tree build would leave build/ and egg-info behind in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("consistency-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    # The report's glossary reads each metric's definition from checks/docs at render time.
    definitions = {f"checks/docs/{p.name}" for p in (ROOT / "checks" / "docs").glob("*.md")}
    assert {"checks/docs/logic.md", "checks/docs/bar.md"} <= definitions <= names
    assert "reports/templates/report.html.j2" in names
    for kind in ("honest", "naive-liar", "consistent-liar"):
        bundled = f"consistency/organisms/bundled/{kind}/"
        assert {bundled + f for f in ("config.json", "model.safetensors", "tokenizer.json", "lies.json")} <= names
