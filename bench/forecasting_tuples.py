"""Convert consistency-forecasting's recorded forecasts into a suite and an answers file.

dpaleka/consistency-forecasting stores each checker's forecasts as JSONL, one tuple a line:
``{"line": {"P": {"question": {"title": ...}, "forecast": {"prob": 0.35}}, "not_P": {...}}}``.
Every question of every tuple becomes its own proposition (its title is the text), every
tuple becomes the relation its checker tests, and every forecast becomes one line of the
answers file, so ``consistency audit --answers`` can audit those forecasts. The same title
recurs across tuples (the base questions are reused by several checkers), often with a
different forecast: the audit keeps each answer for its own proposition, and
cross-examination reports each such title as *asked twice, answered differently*.

Only the checkers whose tuples are a plain Boolean relation are converted (NegChecker,
AndChecker, OrChecker, AndOrChecker); lines of other shapes are counted and skipped.

    python bench/forecasting_tuples.py NegChecker.jsonl AndChecker.jsonl --out runs/gpt4o
    consistency audit --answers runs/gpt4o/answers.jsonl --suite runs/gpt4o/suite.jsonl \
        --checks logic,cross-examination --no-ladder --out runs/gpt4o/audit

``--keep-last-per-text`` writes the answers the way the audit read them before answers were
kept per proposition (one answer per distinct text, the last one read): the before figure.

The summary on stderr counts tuples per checker file, propositions, distinct texts and the texts
answered differently in different tuples. The GPT-4o set measured for issue 12 is
``src/data/forecasts/BasicForecaster_gpt4o_2024-08-06_tuples_newsapi/`` (300 tuples in each of
the four files above, 1,200 in all); the repository has no licence, so its files are never
committed here: pass the paths of a local copy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from consistency.files import write_text_atomic
from consistency.suite import Proposition, Relation, Suite

# The relation each tuple shape tests, with its components' keys as proposition ids.
RELATIONS: dict[frozenset[str], list[str]] = {
    frozenset({"P", "not_P"}): ["not_P <-> !P"],
    frozenset({"P", "Q", "P_and_Q"}): ["P_and_Q <-> (P & Q)"],
    frozenset({"P", "Q", "P_or_Q"}): ["P_or_Q <-> (P | Q)"],
    frozenset({"P", "Q", "P_and_Q", "P_or_Q"}): ["P_and_Q <-> (P & Q)", "P_or_Q <-> (P | Q)"],
}


def convert(lines: Iterable[tuple[str, int, str]]) -> tuple[Suite, list[dict[str, Any]], dict[str, int]]:
    """``(source, line number, raw JSON)`` triples -> (suite, answers records, counts)."""
    propositions: dict[str, Proposition] = {}
    relations: list[Relation] = []
    answers: list[dict[str, Any]] = []
    counts = {"tuples": 0, "skipped": 0}
    for source, number, raw in lines:
        record = json.loads(raw)
        components = record.get("line", {})
        templates = RELATIONS.get(frozenset(components))
        if templates is None:
            counts["skipped"] += 1
            continue
        tuple_id = f"t{counts['tuples']}"
        counts["tuples"] += 1
        for key, component in components.items():
            pid = f"{tuple_id}.{key}"
            propositions[pid] = Proposition(pid, component["question"]["title"].strip())
            answers.append({"proposition": pid, "credence": float(component["forecast"]["prob"])})
        for index, template in enumerate(templates):
            formula = _substitute(template, tuple_id, components)
            relations.append(Relation(f"{tuple_id}.r{index}", formula, source=f"{Path(source).stem}:{number}"))
    suite = Suite("consistency-forecasting", propositions, relations)
    return suite, answers, counts


def _substitute(template: str, tuple_id: str, components: Iterable[str]) -> str:
    """Prefix each component key in ``template`` with the tuple's id (whole tokens only)."""
    keys = set(components)
    out, token = [], ""
    for char in template + " ":
        if char.isalnum() or char == "_":
            token += char
            continue
        if token:
            out.append(f"{tuple_id}.{token}" if token in keys else token)
            token = ""
        out.append(char)
    return "".join(out).rstrip()


def tuples_per_source(suite: Suite) -> dict[str, int]:
    """Converted tuples per source file (its stem), in the order the files were read."""
    seen: dict[str, set[str]] = {}
    for relation in suite.relations:
        stem = relation.source.rsplit(":", 1)[0]
        seen.setdefault(stem, set()).add(relation.id.rsplit(".", 1)[0])
    return {stem: len(ids) for stem, ids in seen.items()}


def keep_last_per_text(suite: Suite, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every proposition answered with the last answer read for its text: how answers keyed by
    prompt text collapsed before (the before figure)."""
    last = {suite.propositions[a["proposition"]].text: a["credence"] for a in answers}
    return [{**a, "credence": last[suite.propositions[a["proposition"]].text]} for a in answers]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="consistency-forecasting forecast JSONL files")
    parser.add_argument("--out", required=True, help="directory for suite.jsonl and answers.jsonl")
    parser.add_argument("--keep-last-per-text", action="store_true",
                        help="one answer per distinct text (the last read), as before answers were kept per proposition")
    args = parser.parse_args(argv)

    def lines() -> Iterable[tuple[str, int, str]]:
        for name in args.files:
            for number, raw in enumerate(Path(name).read_text(encoding="utf-8").splitlines(), start=1):
                if raw.strip():
                    yield name, number, raw

    suite, answers, counts = convert(lines())
    if args.keep_last_per_text:
        answers = keep_last_per_text(suite, answers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suite.save(out / "suite.jsonl")
    write_text_atomic(out / "answers.jsonl", "".join(json.dumps(a) + "\n" for a in answers))
    texts: dict[str, set[float]] = {}
    for a in answers:
        texts.setdefault(suite.propositions[a["proposition"]].text, set()).add(a["credence"])
    differing = sum(len(values) > 1 for values in texts.values())
    per_source = ", ".join(f"{stem} {n}" for stem, n in tuples_per_source(suite).items())
    print(f"{counts['tuples']} tuples ({per_source}; {counts['skipped']} of other shapes skipped), "
          f"{len(suite.propositions)} propositions, {len(texts)} distinct texts, {differing} answered "
          f"differently in different tuples", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
