"""Benchmark: the directives check on a real model's own answers, honest and with planted lies.

The bundled organisms have no directive vocabulary, so the check is measured on a checkpoint
that has one (SmolLM2-135M-Instruct in docs/real-models.md) as a recorded-answers liar: the
model answers every interpretation and behaviour question of ``builtin:directives`` once;
then, per draw, 8 of the 32 cases chosen at random get a lie on top of its own answers:

- ``hypocrite``: endorses the action in every behaviour question (P(yes) becomes max(p, 1 - p));
- ``flip``: reads the action the other way under the directive's first phrasing (p becomes 1 - p).

Printed: the honest run's metrics and the cases in a conflict (its false flags), and per kind
of lie the AUROC of the check's claim scores (planted cases against the others), the share of
planted cases in a conflict (caught) and of the other cases (false flags), over the draws.

    python bench/directives.py --model PATH [--chat on|off|auto] [--draws 50]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/directives.py` from anywhere

from checks.base import CheckResult, RunContext  # noqa: E402
from checks.directives import Directives  # noqa: E402
from consistency.adapters.hf import HFAdapter  # noqa: E402
from consistency.answers import Answers  # noqa: E402
from consistency.engine import elicit  # noqa: E402
from consistency.generators import builtin_suite  # noqa: E402
from probes.metrics import auroc  # noqa: E402

PLANTED = 8


def flagged(result: CheckResult) -> set[str]:
    """The cases in at least one conflict (a conflict names a case, or a case#variant query)."""
    return {claim.split("#")[0] for conflict in result.conflicts for claim in conflict.claims}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint: a directory, a .gguf file, a cached hub id")
    parser.add_argument("--chat", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--draws", type=int, default=50)
    args = parser.parse_args(argv)

    suite, check = builtin_suite("directives"), Directives()
    queries = list(check.queries(suite))
    start = time.perf_counter()
    adapter = HFAdapter(args.model, device="cpu", chat=args.chat, layers=[0])
    honest = elicit(adapter, queries)
    print(f"chat {'on' if adapter.chat else 'off'}: {len(queries)} questions answered in {time.perf_counter() - start:.0f} s")
    cases = [case.id for case in suite.cases]
    base = check.run(suite, honest, RunContext())
    print("honest metrics", json.dumps({k: round(v, 3) for k, v in base.metrics.items()}))
    kinds = [c.certificate["kind"] for c in base.conflicts]
    print(f"honest: {len(flagged(base))}/{len(cases)} cases in a conflict; conflicts by kind "
          f"{ {kind: kinds.count(kind) for kind in sorted(set(kinds))} }")
    for mode in ("hypocrite", "flip"):
        aurocs, caught, false = [], [], []
        for draw in range(args.draws):
            planted = set(random.Random(draw).sample(cases, PLANTED))
            lies: dict[str, float] = {}
            for case in suite.cases:
                if case.id in planted:
                    interpretations, behaviours = check._case_queries(suite, case)
                    for q in behaviours if mode == "hypocrite" else interpretations[:1]:
                        p = honest.p_yes(q)
                        assert p is not None
                        lies[q.key] = max(p, 1 - p) if mode == "hypocrite" else 1 - p
            result = check.run(suite, Answers(credences=honest.credences, per_query=lies), RunContext())
            scores = np.array([result.claim_scores.get(c, 0.0) for c in cases])
            aurocs.append(auroc(scores, np.array([c in planted for c in cases])))
            hit = flagged(result)
            caught.append(len(hit & planted) / len(planted))
            false.append(len(hit - planted) / (len(cases) - len(planted)))
        print(f"{mode:9}: AUROC {np.mean(aurocs):.3f} (sd {np.std(aurocs):.3f}), planted caught {np.mean(caught):.3f}, "
              f"false flags on the other cases {np.mean(false):.3f} ({args.draws} draws of {PLANTED} planted cases)")


if __name__ == "__main__":
    main()
