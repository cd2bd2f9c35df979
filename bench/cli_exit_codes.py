"""Run the real ``consistency`` CLI (one process each) on every bad input of issue 12 and print
the exit status and the last stderr line of each.

    PYTHONPATH=$PWD python bench/cli_exit_codes.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HEADER = {"kind": "suite", "name": "t", "format": 1}
P1 = {"kind": "proposition", "id": "p1", "text": "one", "truth": True}
P2 = {"kind": "proposition", "id": "p2", "text": "two", "truth": False}


def lines(*records) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def cases(d: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    def suite(name: str, *records) -> str:
        (d / name).write_text(lines(HEADER, P1, *records))
        return str(d / name)

    def header(name: str, **fields) -> str:
        (d / name).write_text(lines({**HEADER, **fields}, P1))
        return str(d / name)

    (d / "ok.jsonl").write_text(lines(HEADER, P1, P2))
    (d / "a.jsonl").write_text(lines({"proposition": "p1", "credence": 0.9}, {"proposition": "p2", "credence": 0.2}))
    (d / "latin.csv").write_bytes("statement,label\ncaf\xe9,1\n".encode("latin-1"))
    (d / "big.csv").write_text("statement,label\n" + "x" * 131_073 + ",1\n")
    (d / "bom.csv").write_bytes("statement,label\nthe sky is blue,1\n".encode("utf-8-sig"))
    (d / "u16.jsonl").write_bytes(lines({"proposition": "p1", "credence": 0.5}).encode("utf-16"))
    (d / "list.jsonl").write_text(lines({"proposition": ["p1"], "credence": 0.5}))
    (d / "both.jsonl").write_text(lines({"proposition": "p1", "conditional": "c1", "credence": 0.5}))
    (d / "file.txt").write_text("x")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text("[]")
    (d / "results").mkdir()
    (d / "results" / "results.json").write_text("[]")
    ok = ["--suite", str(d / "ok.jsonl"), "--answers", str(d / "a.jsonl"), "--quiet", "--no-ladder"]
    validate = lambda path: ["suite", "validate", path]  # noqa: E731
    out = lambda name: ["--out", str(d / name)]  # noqa: E731
    return [
        ("suite: non-string kind", validate(suite("k.jsonl", {"kind": ["x"]})), {}),
        ("suite: 4,301-digit integer", validate(suite("i.jsonl", '{"kind": "proposition", "id": "p2", "text": "t", "difficulty": ' + "1" * 4301 + "}")), {}),
        ("suite: JSON nested 1,000 deep", validate(suite("n.jsonl", "[" * 1000 + "]" * 1000)), {}),
        ("suite: 200 nested parentheses", validate(suite("pp.jsonl", {"kind": "relation", "id": "r", "formula": "(" * 200 + "p1" + ")" * 200})), {}),
        # '&' and '|' chains parse shallow (associative) and are valid; the others nest 1,000 deep
        *[(f"suite: chain of 1,000 '{op}'{' (accepted)' if op in '&|' else ''}", validate(suite(f"c{i}.jsonl", {"kind": "relation", "id": "r", "formula": ("!" * 1000 + "p1") if op == "!" else f" {op} ".join(["p1"] * 1000)})), {})
          for i, op in enumerate(["!", "->", "&", "|", "<->"])],
        ("suite: a directory", validate(str(d)), {}),
        ("suite: ''", validate(""), {}),
        ("suite: condition_template {given} {x}", validate(header("t1.jsonl", condition_template="{given} {x}")), {}),
        ("suite: condition_template {given}}", validate(header("t2.jsonl", condition_template="{given}}")), {}),
        ("suite: metadata [1, 2] with --limit 1", ["audit", *ok, "--suite", header("m.jsonl", metadata=[1, 2]), "--limit", "1", *out("r1")], {}),
        ("suite: lone surrogate in a text", validate(suite("s.jsonl", {**P2, "text": "two \ud800"})), {}),
        ("suite: id 'p1\\n'", validate(suite("id.jsonl", {**P2, "id": "p2\n"})), {}),
        ("suite: negated 'false'", validate(header("ng.jsonl", framings=[{"name": "a", "template": "{statement}?", "negated": "false"}])), {}),
        ("suite: format true", validate(header("f.jsonl", format=True)), {}),
        ("suite validate: an invalid suite", validate(suite("bad.jsonl", {**P2, "weak": 2})), {}),
        ("csv: missing", validate(str(d / "missing.csv")), {}),
        ("csv: not UTF-8", validate(str(d / "latin.csv")), {}),
        ("csv: field over 131,072 characters", validate(str(d / "big.csv")), {}),
        ("csv: byte-order mark (accepted)", validate(str(d / "bom.csv")), {}),
        ("answers: UTF-16", ["audit", *ok, "--answers", str(d / "u16.jsonl"), *out("r2")], {}),
        ("answers: proposition ['p1']", ["audit", *ok, "--answers", str(d / "list.jsonl"), *out("r3")], {}),
        ("answers: proposition and conditional", ["audit", *ok, "--answers", str(d / "both.jsonl"), *out("r4")], {}),
        ("answers: complete file with --limit 1 (accepted)", ["audit", *ok, "--limit", "1", "--checks", "cross-examination", *out("r5")], {}),
        ("options: --layers a", ["audit", *ok, "--layers", "a", *out("r6")], {}),
        ("options: --option logic.nonsense=1", ["audit", *ok, "--option", "logic.nonsense=1", *out("r7")], {}),
        ("options: --out an existing file", ["audit", *ok, "--out", str(d / "file.txt")], {}),
        *[(f"env: CONSISTENCY_{name}={value} (audit)", ["audit", *ok, *out("r8")], {f"CONSISTENCY_{name}": value})
          for name, value in [("SEED", "abc"), ("LIMIT", "x"), ("LADDER_TARGETS", "x"), ("LADDER_FPR", "x"),
                              ("MIN_SEVERITY", "x"), ("WEAK_NOISE", "x"), ("LAYERS", "x")]],
        ("env: CONSISTENCY_SEED=abc (checks)", ["checks"], {"CONSISTENCY_SEED": "abc"}),
        ("checkpoint: config.json []", ["audit", str(d / "model"), "--suite", str(d / "ok.jsonl"), "--quiet", *out("r9")], {}),
        ("report: results.json []", ["report", str(d / "results")], {}),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, argv, env in cases(Path(folder)):
            run = subprocess.run([sys.executable, "-m", "consistency.cli", *argv], capture_output=True, text=True,
                                 env={**os.environ, **env}, timeout=300)
            last = (run.stderr.strip().splitlines() or [""])[-1].replace(folder, "DIR")
            traceback = " TRACEBACK" if "Traceback" in run.stderr else ""
            print(f"{run.returncode}{traceback}  {name}: {last[:150]}", flush=True)


if __name__ == "__main__":
    main()
