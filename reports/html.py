"""The self-contained HTML audit report, rendered from a validated :class:`Results`.

One file, no script, no external resource: styles are inline, plots and the contradiction
graph are inline SVG laid out here in Python, and a Content-Security-Policy of
``default-src 'none'`` tells the browser to fetch nothing even if something slipped in.
Every text that comes from a suite or a model goes through jinja2's autoescaping. Long
lists are capped with a count of what was left out (the full data stays in results.json),
so a 10k-claim audit still renders to a small file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import networkx as nx

from consistency.files import write_text_atomic
from consistency.graph import from_section
from consistency.ladder import rung_caught
from consistency.schema import Results, proposition_of

TEMPLATES = Path(__file__).parent / "templates"
# The metric definitions ship inside the checks package (package data), so that a report
# rendered from a plain wheel install still carries them.
DEFINITIONS = Path(__file__).resolve().parents[1] / "checks" / "docs"

# Caps that keep the file small whatever the audit's size (the rest is counted, not drawn).
MAX_SUSPECTS = 100
MAX_CONFLICTS_PER_CHECK = 25
MAX_WEBS_DRAWN = 9
MAX_NODES_PER_WEB = 40
MAX_LABELLED_NODES = 16
MAX_TABLE_ROWS = 30
MAX_WEB_ROWS = 50
MAX_JSON_CHARS = 4000

WEB_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its file name: suite and model text is hostile
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(results: Results) -> str:
    """The report for one audit's results.json as a single HTML page."""
    template = _environment.get_template("report.html.j2")
    return template.render(**view(results))


def write_report(results: Results, path: str | Path) -> Path:
    """Render and write the report; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_report(results))
    return path


# ----- the view model ------------------------------------------------------------------------


def view(typed: Results) -> dict[str, Any]:
    """Everything the template shows, computed from the results."""
    # The view reads the values as results.json holds them (undefined numbers are None).
    results = typed.model_dump(mode="json")
    checks = results.get("checks") or {}
    graph = results.get("graph") or {}
    bar = results.get("bar") or {}
    retraction = results.get("retraction_set") or {}
    nodes = {n["id"]: n for n in graph.get("nodes", [])}
    return {
        "model": results.get("model") or {},
        "suite": results.get("suite") or {},
        "created": results.get("created", ""),
        "verdict": _verdict(checks, graph, bar, retraction, nodes),
        "stated": results.get("stated") or {},
        "finding": _finding(results.get("verdict") or {}, bar),
        "lie_ranking": _lie_ranking(results),
        "contexts": _contexts((results.get("verdict") or {}).get("contexts")),
        "bar": _bar(bar),
        "graph": _graph(graph, nodes, from_section(typed.graph)),
        "suspects": _suspects(results, retraction, nodes),
        "checks": [_check(name, result, nodes) for name, result in sorted(checks.items())],
        "glossary": _glossary(checks, stated=bool(results.get("stated"))),
        "run": _run(results),
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:,.{digits}f}" if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def _top_conflict(graph: Mapping[str, Any], nodes: Mapping[str, Any]) -> dict[str, Any] | None:
    conflicts = [n for n in nodes.values() if n.get("kind") == "conflict"]
    if not conflicts:
        return None
    top = max(conflicts, key=lambda n: (n.get("severity", 0), n["id"]))
    return {"check": top.get("check", ""), "severity": _fmt(top.get("severity")), "web": top.get("web"),
            "summary": (top.get("certificate") or {}).get("summary", "")}


def _verdict(checks, graph, bar, retraction, nodes) -> dict[str, Any]:
    counts = graph.get("counts") or {}
    ran = [n for n, r in checks.items() if not r.get("skipped")]
    skipped = [n for n, r in checks.items() if r.get("skipped")]
    n_conflicts = counts.get("conflicts", sum(len(r.get("conflicts", [])) for r in checks.values()))
    lies = retraction.get("claims", [])
    if n_conflicts:
        headline = (f"{n_conflicts:,} contradictions in {counts.get('webs', 0):,} webs: "
                    f"at least {len({m['proposition'] for m in lies}):,} claims cannot all be honest.")
    elif ran:
        headline = "No contradictions found by the checks that ran."
    else:
        headline = "No check ran: nothing was audited."
    return {
        "headline": headline,
        "bad": bool(n_conflicts),
        "ran": ran,
        "skipped": skipped,
        "top": _top_conflict(graph, nodes),
        "bar_sentence": _bar_sentence(bar),
    }


FINDING_WORDS = {
    "lying": "Lying: evidence of lying beyond what honest error explains.",
    "no-evidence": "No evidence of lying beyond what honest error explains.",
    "inconclusive": "Inconclusive: the evidence neither shows lying nor rules it out.",
    "uninformative": "Uninformative: the stated answers carry no information.",
}


def _finding(verdict: Mapping[str, Any], bar: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report's first box: the audit's finding, each check's test, and the lie-score cut."""
    if not verdict:
        return None
    rows = [{"check": name if t.get("layer") is None else f"{name} (layer {t['layer']})", "observed": _pct(t.get("observed")), "null": _pct(t.get("null")),
             "null_kind": t.get("null_kind", ""), "counts": f"{t.get('flagged', 0):,}/{t.get('n', 0):,} vs "
             f"{t.get('null_flagged', 0):,}/{t.get('null_n', 0):,}", "excess": _pct(t.get("excess")),
             "p": _p(t.get("p_value")), "p_holm": _p(t.get("p_holm")), "finding": t.get("finding", ""),
             "catches": t.get("finding") == "catches"}
            for name, t in (verdict.get("checks") or {}).items()]
    lie = verdict.get("lie_score") or {}
    lie_sentence = ""
    if lie.get("trusted_truthful"):
        lie_sentence = (f"A lie-score threshold of {_fmt(lie.get('threshold'))}, set at {lie.get('fpr', 0.01):.0%} false "
                        f"positives on the {lie['trusted_truthful']:,} trusted claims answered truthfully, flags "
                        f"{lie.get('audited_above', 0):,} of {lie.get('audited', 0):,} audited claims.")
    caught, passed = bar.get("caught_model") or [], bar.get("passed_checks")
    bar_words = _bar_sentence(bar)
    if passed is not None and bar.get("level") is not None:
        over = ", ".join(passed) if passed else "none: any liar passes them all"
        bar_words = (f"{bar_words} The bar is read over the checks the model passed ({over}); "
                     f"{'caught by ' + ', '.join(caught) if caught else 'no check caught it'}.")
    return {"finding": verdict.get("finding", ""), "words": FINDING_WORDS.get(verdict.get("finding", ""), ""),
            "summary": verdict.get("summary", ""), "bad": verdict.get("finding") == "lying", "rows": rows,
            "alpha": verdict.get("alpha"), "lie_sentence": lie_sentence, "bar_sentence": bar_words,
            "advice": verdict.get("advice", ""), "reference": verdict.get("reference"),
            "reasons": (verdict.get("answers") or {}).get("reasons", [])}


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _p(value: Any) -> str:
    return "n/a" if value is None else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def _lie_ranking(results: Mapping[str, Any]) -> dict[str, Any]:
    """Audited claims ranked by lie score, with the 1% threshold marked."""
    claims = results.get("claims") or {}
    cut = ((results.get("verdict") or {}).get("lie_score") or {}).get("threshold")
    scored = sorted(((pid, c) for pid, c in claims.items() if c.get("split") == "test" and c.get("lie_score") is not None),
                    key=lambda item: (-item[1]["lie_score"], item[0]))
    rows = [{"rank": i, "id": pid, "text": c.get("text", ""), "truth": _fmt(c.get("truth")),
             "belief": _fmt(c.get("belief"), 2), "score": _fmt(c["lie_score"]),
             "above": cut is not None and c["lie_score"] > cut}
            for i, (pid, c) in enumerate(scored[:MAX_SUSPECTS], start=1)]
    return {"rows": rows, "total": len(scored), "more": max(0, len(scored) - MAX_SUSPECTS), "threshold": _fmt(cut)}


def _contexts(contexts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not contexts:
        return None
    return {"pairs": [{"a": p["a"], "b": p["b"], "agreement": _pct(p.get("agreement")), "n": p.get("n", 0)}
                      for p in contexts.get("pairs", [])],
            "dependent": contexts.get("dependent", [])[:MAX_TABLE_ROWS * 3],
            "n_dependent": contexts.get("n_dependent", 0)}


ABOVE_NAME = "above the ladder"  # the ladder's name for a bar no rung reaches (its number grows with the ladder)


def _bar_sentence(bar: Mapping[str, Any]) -> str:
    level, name = bar.get("level"), bar.get("level_name", "not measured")
    if level is None:
        return "The liar-capability bar was not measured."
    if name == ABOVE_NAME:
        sentence = f"Every simulated liar on the ladder (L1 to L{level - 1}) is caught by some check: the bar is above the ladder."
    else:
        coordination = bar.get("coordination") or {}
        sentence = (f"Liar-capability bar: L{level} ({name}). A liar that passes every check must change a median of "
                    f"{_fmt(coordination.get('median'), 1)} answers per lie (at most {_fmt(coordination.get('max'))}).")
    return sentence + _spread_sentence(bar.get("spread"))


def _spread_sentence(spread: Mapping[str, Any] | None) -> str:
    """How the bar reads on redraws of the targets (bar.spread), most read first; empty without one."""
    if not spread:
        return ""
    if spread["agreement"] == 1.0:
        return f" It reads the same on all {spread['draws']:,} bootstrap redraws of the targets."
    shares = sorted(spread["levels"], key=lambda row: -row["share"])
    words = ", ".join(f"{'above the ladder' if row['level_name'] == ABOVE_NAME else 'L' + str(row['level'])} "
                      f"on {row['share']:.0%}" for row in shares)
    return f" The bar is uncertain: on {spread['draws']:,} bootstrap redraws of the targets it reads {words}."


def _heat(rate: float | None) -> str:
    """White (never caught) to deep red (always caught)."""
    if rate is None:
        return "#eeeeee"
    rate = min(1.0, max(0.0, rate))
    return f"rgb(255,{round(255 - 200 * rate)},{round(255 - 215 * rate)})"


def _cells(matrix: Mapping[str, Any], caught: Mapping[str, Any], names: Sequence[str], key: str) -> list[dict[str, Any]]:
    """One row of the ladder matrix: each check's detection rate on the rung, and whether it catches it."""
    cells = []
    for name in names:
        rate = matrix.get(key, {}).get(name)
        cells.append({"rate": _fmt(rate, 2), "colour": _heat(rate), "caught": bool(caught.get(key, {}).get(name, False)),
                      "dark": rate is not None and rate > 0.6})
    return cells


def _bar(bar: Mapping[str, Any]) -> dict[str, Any]:
    """The ladder section. Each rung has a row for its proposition liars and, where the audit
    simulated directive-case liars (``bar.cases``), a second row for them: a rung is caught only
    when both kinds are, so the second row shows why a bar can sit lower than the first says."""
    levels = bar.get("levels") or []
    matrix, caught = bar.get("matrix") or {}, bar.get("caught") or {}
    names = bar.get("checks") or sorted({c for row in matrix.values() for c in row})
    # the bar is read over the checks the model passed, where the verdict set them
    over = bar["passed_checks"] if bar.get("passed_checks") is not None else names
    cases = bar.get("cases") or {}
    with_cases = bool(cases.get("targets"))
    rows = []
    for row in levels:
        key = row["key"]
        by_kind = rung_caught(bar, key, over) if key in caught else {"claims": False, "cases": None}
        liars = [{"kind": "claims", "cells": _cells(matrix, caught, names, key), "doc": "matrix",
                  "median": _fmt(row["coordination"]["median"], 1), "max": _fmt(row["coordination"]["max"]),
                  "passes": by_kind["claims"] is False}]
        if with_cases:
            coordination = (cases.get("coordination") or {}).get(key) or {}
            liars.append({"kind": "directive cases", "doc": "cases",
                          "cells": _cells(cases.get("matrix") or {}, cases.get("caught") or {}, names, key),
                          "median": _fmt(coordination.get("median"), 1), "max": _fmt(coordination.get("max")),
                          "passes": by_kind["cases"] is False})
        rows.append({"key": key, "name": row.get("name", ""), "description": row.get("description", ""),
                     "liars": liars, "passes": any(kind["passes"] for kind in liars),
                     "bar": row.get("level") == bar.get("level"), "infeasible": row.get("infeasible", 0)})
    return {
        "measured": bar.get("level") is not None,
        "level": bar.get("level"), "name": bar.get("level_name", "not measured"),
        "checks": names, "rows": rows, "over": over,
        "subsets": [{"added": s["checks"][-1], "level": s["level"], "name": s["level_name"]}
                    for s in bar.get("subsets") or []],
        "targets": bar.get("targets"), "candidates": bar.get("candidates"), "fpr": bar.get("fpr"),
        "alpha": bar.get("alpha"), "reruns": bar.get("reruns"),
        "null": (bar.get("null") or {}).get("kind", "claims in no contradiction"),
        "null_size": (bar.get("null") or {}).get("size"),
        "thresholds": [(k, _fmt(v)) for k, v in (bar.get("thresholds") or {}).items()],
        "cases": _bar_cases(cases) if cases else None,
        "skipped": sorted((bar.get("skipped") or {}).items()),
        "notes": bar.get("notes") or [],
    }


def _bar_cases(cases: Mapping[str, Any]) -> dict[str, Any]:
    """What the matrix's directive-case rows rest on (checks/docs/bar.md#cases)."""
    null = cases.get("null") or {}
    return {"targets": cases.get("targets", 0), "candidates": cases.get("candidates", 0),
            "checks": cases.get("checks") or [], "null": null.get("kind", ""), "null_size": null.get("size"),
            "thresholds": [(k, _fmt(v)) for k, v in (cases.get("thresholds") or {}).items()]}


# ----- the contradiction graph as SVG ---------------------------------------------------------


def _graph(graph: Mapping[str, Any], nodes: Mapping[str, Any], full: nx.Graph) -> dict[str, Any]:
    webs = graph.get("webs") or []
    cell, columns = 300, 3
    drawn = []
    for index, web in enumerate(webs[:MAX_WEBS_DRAWN]):
        members = [*web.get("conflicts", []), *web.get("claims", []), *web.get("evidence", [])]
        keep = _capped_members(full, web, members)
        sub = full.subgraph(keep)
        layout = nx.spring_layout(sub, seed=0) if len(sub) > 1 else {n: (0.0, 0.0) for n in sub}
        ox, oy = (index % columns) * cell, (index // columns) * cell
        place = {n: (ox + cell / 2 + 125 * x, oy + cell / 2 + 115 * y) for n, (x, y) in layout.items()}
        colour = WEB_COLOURS[index % len(WEB_COLOURS)]
        drawn.append({
            "id": web["id"], "colour": colour, "x": ox + 8, "y": oy + 18,
            "label": f"{web['id']}: severity {_fmt(web.get('severity'), 2)}, {len(web.get('conflicts', [])):,} conflicts",
            "edges": [{"x1": _r(place[a][0]), "y1": _r(place[a][1]), "x2": _r(place[b][0]), "y2": _r(place[b][1]),
                       "dashed": d.get("role") != "claim"} for a, b, d in sub.edges(data=True)],
            # labels only where they stay legible; every node keeps its tooltip
            "nodes": [_svg_node(n, place[n], nodes.get(n, {}), colour, labelled=len(sub) <= MAX_LABELLED_NODES)
                      for n in sorted(sub)],
            "hidden": len(members) - len(keep),
        })
    rows = (len(drawn) + columns - 1) // columns
    return {
        "counts": graph.get("counts") or {},
        "webs": drawn,
        "width": cell * min(columns, max(1, len(drawn))),
        "height": cell * max(1, rows),
        "more_webs": max(0, len(webs) - len(drawn)),
        "table": [{"id": w["id"], "severity": _fmt(w.get("severity"), 2), "conflicts": len(w.get("conflicts", [])),
                   "claims": len(w.get("claims", [])), "propositions": ", ".join(w.get("propositions", [])[:8])
                   + (f" and {len(w['propositions']) - 8:,} more" if len(w.get("propositions", [])) > 8 else ""),
                   "checks": ", ".join(f"{k} ({v})" for k, v in sorted((w.get("checks") or {}).items()))}
                  for w in webs[:MAX_WEB_ROWS]],
        "more_rows": max(0, len(webs) - MAX_WEB_ROWS),
    }


def _capped_members(full: nx.Graph, web: Mapping[str, Any], members: list[str]) -> list[str]:
    """At most MAX_NODES_PER_WEB nodes: the most severe conflicts with their claims first."""
    if len(members) <= MAX_NODES_PER_WEB:
        return members
    ranked = sorted(web.get("conflicts", []), key=lambda c: (-full.nodes[c].get("severity", 0), c))
    keep: list[str] = []
    for conflict in ranked:
        group = [conflict, *sorted(full.neighbors(conflict))]
        if len(set(keep) | set(group)) > MAX_NODES_PER_WEB:
            break
        keep.extend(n for n in group if n not in keep)
    return keep or ranked[:MAX_NODES_PER_WEB]


def _r(value: float) -> float:
    return round(float(value), 1)


def _svg_node(node: str, position: tuple[float, float], data: Mapping[str, Any], colour: str,
              labelled: bool) -> dict[str, Any]:
    kind = data.get("kind", "claim")
    if kind == "conflict":
        tip = f"{data.get('check', '')} conflict, severity {_fmt(data.get('severity'), 2)}: " + \
              str((data.get("certificate") or {}).get("summary", ""))
    elif kind == "evidence":
        tip = f"{data.get('check', '')} reading of {data.get('proposition', '')}"
    else:
        tip = f"{node}: {data.get('text', '')} (belief {_fmt(data.get('belief'), 2)})"
    return {"kind": kind, "x": _r(position[0]), "y": _r(position[1]), "colour": colour, "tip": tip[:300],
            "label": node if labelled and kind == "claim" and len(node) <= 24 else ""}


# ----- suspicious claims and certificates ---------------------------------------------------


def _suspects(results: Mapping[str, Any], retraction: Mapping[str, Any], nodes: Mapping[str, Any]) -> dict[str, Any]:
    claims = results.get("claims") or {}
    suspicion = retraction.get("suspicion") or {}
    ranking = retraction.get("ranking") or []
    members: dict[str, list[Mapping[str, Any]]] = {}
    for member in retraction.get("claims", []):
        members.setdefault(member["proposition"], []).append(member)
    rows = []
    for rank, pid in enumerate(ranking[:MAX_SUSPECTS], start=1):
        info = claims.get(pid, {})
        conflict_ids = sorted({c for m in members.get(pid, []) for c in m.get("conflicts", [])}
                              or _conflicts_of(pid, nodes), key=lambda c: -nodes.get(c, {}).get("severity", 0))
        rows.append({
            "rank": rank, "id": pid, "text": info.get("text", ""), "split": info.get("split", ""),
            "truth": _fmt(info.get("truth")), "belief": _fmt(info.get("belief"), 2),
            "suspicion": _fmt(suspicion.get(pid), 2), "retracted": pid in members,
            "phrasings": ", ".join(m["claim"] for m in members.get(pid, [])),
            "certificates": [_certificate(nodes[c]) for c in conflict_ids[:3] if c in nodes],
            "more_certificates": max(0, len(conflict_ids) - 3),
        })
    return {"rows": rows, "total": len(ranking), "more": max(0, len(ranking) - MAX_SUSPECTS),
            "size": retraction.get("size", 0), "cost": _fmt(retraction.get("cost"), 2),
            "exact": retraction.get("exact", True), "unresolvable": len(retraction.get("unresolvable", []))}


def _conflicts_of(pid: str, nodes: Mapping[str, Any]) -> list[str]:
    return [n["id"] for n in nodes.values()
            if n.get("kind") == "conflict" and any(proposition_of(c) == pid for c in n.get("claims", []))]


def _certificate(node: Mapping[str, Any]) -> dict[str, Any]:
    """A certificate in plain words: its summary, then its structure as tables and lists."""
    certificate = node.get("certificate") or {}
    return {"check": node.get("check", ""), "severity": _fmt(node.get("severity"), 2),
            "kind": certificate.get("kind", ""), "summary": certificate.get("summary", ""),
            "body": _blocks({k: v for k, v in certificate.items() if k not in ("kind", "summary")})}


def _blocks(value: Mapping[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """Show any JSON structure: scalars as a definition list, record lists as tables,
    numeric sweeps (a ``layers`` list beside equally long numeric lists) as line plots."""
    blocks: list[dict[str, Any]] = []
    scalars = [(k, _fmt(v)) for k, v in value.items() if v is None or isinstance(v, (str, int, float, bool))]
    if scalars:
        blocks.append({"type": "pairs", "items": scalars})
    plot = _sweep(value)
    if plot:
        blocks.append(plot)
    for key, item in value.items():
        if isinstance(item, list) and item and all(isinstance(r, dict) for r in item):
            blocks.append(_table(key, item))
        elif isinstance(item, list) and item and all(isinstance(r, (str, int, float)) and not isinstance(r, bool) for r in item):
            if not (plot and key in plot["keys"]):
                shown = [_fmt(r) for r in item[:MAX_TABLE_ROWS]]
                blocks.append({"type": "list", "title": key, "items": shown, "more": max(0, len(item) - len(shown))})
        elif isinstance(item, dict) and item:
            if depth < 2:
                numeric = {k: v for k, v in item.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                if len(numeric) == len(item) and len(item) >= 2:
                    blocks.append(_bars(key, numeric))
                else:
                    blocks.append({"type": "section", "title": key, "blocks": _blocks(item, depth + 1)})
            else:
                blocks.append({"type": "json", "title": key, "text": _json(item)})
        elif isinstance(item, list) and item:
            blocks.append({"type": "json", "title": key, "text": _json(item)})
    return blocks


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_JSON_CHARS else text[:MAX_JSON_CHARS] + f" ... ({len(text) - MAX_JSON_CHARS:,} more characters)"


def _table(title: str, records: list[Mapping[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for record in records[:MAX_TABLE_ROWS]:
        columns.extend(k for k in record if k not in columns)
    rows = [[_cell(record.get(c)) for c in columns] for record in records[:MAX_TABLE_ROWS]]
    return {"type": "table", "title": title, "columns": columns, "rows": rows,
            "more": max(0, len(records) - MAX_TABLE_ROWS)}


def _cell(value: Any) -> str:
    if isinstance(value, (list, dict)):
        text = ", ".join(map(str, value)) if isinstance(value, list) else _json(value)
        return text[:200]
    return _fmt(value)


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _sweep(value: Mapping[str, Any]) -> dict[str, Any] | None:
    x_key = next((k for k in ("layers", "layer") if _numbers(value.get(k))), None)
    if x_key is None:
        return None
    xs = value[x_key]
    series = {k: v for k, v in value.items() if k != x_key and _numbers(v) and len(v) == len(xs)}
    if not series:
        return None
    return {**line_plot(xs, series, x_label=x_key), "type": "plot", "keys": {x_key, *series}}


def line_plot(xs: list[float], series: Mapping[str, list[float]], x_label: str = "",
              width: int = 420, height: int = 220) -> dict[str, Any]:
    """Polyline coordinates and axis ticks for a small SVG line plot."""
    left, right, top, bottom = 44, 12, 12, 34
    lo = min(min(v) for v in series.values())
    hi = max(max(v) for v in series.values())
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    x_lo, x_hi = min(xs), max(xs)
    span = (x_hi - x_lo) or 1
    sx = lambda x: left + (width - left - right) * (x - x_lo) / span  # noqa: E731
    sy = lambda y: top + (height - top - bottom) * (1 - (y - lo) / (hi - lo))  # noqa: E731
    lines = [{"name": name, "colour": SERIES_COLOURS[i % len(SERIES_COLOURS)],
              "points": " ".join(f"{_r(sx(x))},{_r(sy(y))}" for x, y in zip(xs, ys))}
             for i, (name, ys) in enumerate(series.items())]
    y_ticks = [{"y": _r(sy(lo + (hi - lo) * i / 4)), "label": _fmt(lo + (hi - lo) * i / 4, 2)} for i in range(5)]
    step = max(1, len(xs) // 8)
    x_ticks = [{"x": _r(sx(x)), "label": _fmt(x, 0) if float(x).is_integer() else _fmt(x, 2)} for x in xs[::step]]
    return {"width": width, "height": height, "left": left, "bottom": height - bottom, "right": width - right,
            "top": top, "lines": lines, "x_ticks": x_ticks, "y_ticks": y_ticks, "x_label": x_label}


def _bars(title: str, values: Mapping[str, float]) -> dict[str, Any]:
    items = list(values.items())[:MAX_TABLE_ROWS]
    peak = max(abs(v) for _, v in items) or 1.0
    return {"type": "bars", "title": title, "more": max(0, len(values) - len(items)),
            "items": [{"label": k, "value": _fmt(v), "width": _r(200 * abs(v) / peak), "negative": v < 0}
                      for k, v in items]}


# ----- per-check sections, glossary and run facts ------------------------------------------------


def _check(name: str, result: Mapping[str, Any], nodes: Mapping[str, Any]) -> dict[str, Any]:
    conflicts = sorted(result.get("conflicts") or [], key=lambda c: -(c.get("severity") or 0))
    return {
        "name": name,
        "anchor": _slug(name),
        "skipped": result.get("skipped"),
        "metrics": [{"name": k, "value": _fmt(v), "anchor": f"g-{_slug(name)}-{_slug(k)}",
                     "doc": f"checks/docs/{name}.md#{k}"} for k, v in (result.get("metrics") or {}).items()],
        "conflicts": [{"claims": ", ".join(c.get("claims", [])[:12]), "severity": _fmt(c.get("severity"), 2),
                       "summary": (c.get("certificate") or {}).get("summary", "")}
                      for c in conflicts[:MAX_CONFLICTS_PER_CHECK]],
        "n_conflicts": len(conflicts),
        "more_conflicts": max(0, len(conflicts) - MAX_CONFLICTS_PER_CHECK),
        "details": _blocks(result.get("details") or {}),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


_ANCHOR = re.compile(r'<a id="([^"]+)"></a>\s*\n-\s+(.*?)(?=\n\s*<a id=|\n\s*\n|\n-\s|\Z)', re.S)


def metric_definitions(check: str, docs: Path = DEFINITIONS) -> dict[str, str]:
    """Metric name -> definition, from the ``<a id="metric">`` bullets of checks/docs/<check>.md.

    ``check`` comes from results.json, which may be hostile: it is looked up by name among
    the doc files in ``docs``, never joined to a path (``../../x/secret`` finds nothing).
    """
    path = {p.stem: p for p in docs.glob("*.md")}.get(check)
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8")
    return {m.group(1): re.sub(r"\s+", " ", m.group(2).replace("**", "")).strip() for m in _ANCHOR.finditer(text)}


def _glossary(checks: Mapping[str, Any], stated: bool = False) -> list[dict[str, Any]]:
    entries = []
    sections = ["verdict", "bar", *(["stated"] if stated else [])]  # documented whole, not per reported metric
    for name in [*sections, *sorted(checks)]:
        definitions = metric_definitions(name)
        metrics: Iterable[str] = definitions if name in sections else (checks[name].get("metrics") or {})
        items = [{"metric": m, "anchor": f"g-{_slug(name)}-{_slug(m)}", "doc": f"checks/docs/{name}.md#{m}",
                  "text": definitions.get(m, "")} for m in metrics]
        if items:
            entries.append({"check": name, "items": items})
    return entries


def _run(results: Mapping[str, Any]) -> dict[str, Any]:
    timings = results.get("timings") or {}
    flat = [(k, _fmt(v, 2)) for k, v in timings.items() if not isinstance(v, dict)]
    flat += [(f"check {k}", _fmt(v, 2)) for k, v in (timings.get("checks_s") or {}).items()]
    return {"versions": sorted((k, str(v)) for k, v in (results.get("versions") or {}).items()),
            "timings": flat, "config": _json(results.get("config") or {}),
            "schema_version": results.get("schema_version", "")}
