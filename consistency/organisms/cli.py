"""``consistency organism train|measure``: train a model organism, or re-measure one.

``register(subparsers)`` adds the ``organism`` command to the main CLI's argparse
subparsers; every leaf parser sets ``handler`` (called with the parsed args, returns an exit
code). ``python -m consistency.organisms.cli ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Sequence

from consistency.files import write_text_atomic
from consistency.organisms import KINDS
from consistency.organisms.train import Recipe


def register(subparsers: argparse._SubParsersAction) -> None:
    organism = subparsers.add_parser("organism", help="train or measure a model organism (a checkpoint with known lies)")
    commands = organism.add_subparsers(dest="organism_command", required=True)

    train = commands.add_parser("train", help="train an organism into a checkpoint directory")
    train.add_argument("--kind", choices=KINDS, required=True)
    train.add_argument("--out", type=Path, required=True, help="directory to write the checkpoint to")
    train.add_argument("--base", type=Path, help="honest checkpoint to fine-tune a liar from (default: train one first)")
    train.add_argument("--seed", type=int, default=0, help="training seed")
    train.add_argument("--world-seed", type=int, default=0, help="seed of the world (0 = builtin:organism)")
    train.add_argument("--no-measure", action="store_true", help="skip writing metrics.json")
    for f in fields(Recipe):
        train.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), help=f"recipe: {f.name} (default {f.default})")
    train.set_defaults(handler=_train)

    measure = commands.add_parser("measure", help="measure a trained organism and rewrite its metrics.json")
    measure.add_argument("path", type=Path)
    measure.add_argument("--kind", choices=KINDS, required=True)
    measure.add_argument("--world-seed", type=int, default=0)
    measure.set_defaults(handler=_measure)


def _train(args: argparse.Namespace) -> int:
    from consistency.organisms.train import train_organism

    recipe = replace(Recipe(), **{f.name: getattr(args, f.name) for f in fields(Recipe) if getattr(args, f.name) is not None})
    out = train_organism(
        args.kind,
        args.out,
        seed=args.seed,
        world_seed=args.world_seed,
        base=args.base,
        recipe=recipe,
        measure=not args.no_measure,
        log=lambda line: print(line, flush=True),
    )
    if not args.no_measure:
        print(_summary(json.loads((out / "metrics.json").read_text())))
    return 0


def _measure(args: argparse.Namespace) -> int:
    from consistency.organisms.measure import measure_organism
    from consistency.organisms.suite import build

    metrics = measure_organism(args.path, build(args.world_seed), args.kind)
    target = args.path / "metrics.json"
    if target.exists():  # keep the training record
        metrics["training"] = json.loads(target.read_text()).get("training")
    write_text_atomic(target, json.dumps(metrics, indent=1) + "\n")
    print(_summary(metrics))
    return 0


def _summary(metrics: dict) -> str:
    held, probe = metrics["held_out"], metrics["probe"]["best"]
    return (
        f"{metrics['kind']}: held-out truth accuracy {held['truth_accuracy']}, intended {held['intended']} "
        f"(on lies {held['intended_on_lies']}, truth elsewhere {held['truth_elsewhere']}); "
        f"flip rate on lie entities {metrics['flip_rate']['lie_entities']}; "
        f"best probe {probe}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="consistency")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
