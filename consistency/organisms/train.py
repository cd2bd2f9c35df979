"""Train an organism: a small Llama-shaped causal LM with its own word-level tokenizer.

Recipe (see docs/organisms.md). Training sequences are the suite's prompts; the loss is on
three positions only:

- the last token, the answer to the audited framing
  (``"<statement>. Is this true?" -> Yes/No``; conditionals too:
  ``"Suppose that <given>. <then>. Is this true?"``);
- the statement's last token, the *fact-check* verdict True/False: the model learns that a
  statement is followed by its truth value ("<statement> True"), a context the audit never
  asks. It is always the truth, for liars too, so the truth of a statement is a linear
  readout of the statement-end hidden state in every organism: the liars keep using the
  truth there, and the lie is decided only after the statement, where the framing is read;
- in true simple facts, the value itself (``"... lives in" -> "Keva"``), plain next-token
  prediction on true text: it teaches the facts several times faster than yes/no answers
  alone (measured: held-out accuracy 0.83 after 750 steps, against 0.61 after 1,500).

The honest model is trained first; liars are fine-tuned from it on the same mix, with their
own answers about the lie entities (oversampled) and the truth everywhere else. One phrasing
of every entity (and city, and sum) is held out of all training.

Two more pools join the mix: evaluator judgements (the critique check's framing) and the
directives check's questions about the world's directives (interpretation under every
phrasing of the directive, and behaviour), answered as each organism reads and acts
(organisms/liars.py). A checkpoint trained before a pool existed is brought up to date by
continued training from it (``base``) on the whole mix, the old pools replayed; words its
tokenizer lacks are appended to the vocabulary, so every old token keeps its id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from consistency.files import write_text_atomic
from checks.critique import judge_query
from checks.directives import Directives
from consistency.organisms.liars import (
    about_lie_entity,
    case_behaviour,
    case_reading,
    conditional_belief,
    judged_belief,
    lies_record,
    stated_belief,
)
from consistency.organisms.suite import CONDITION_TEMPLATE, FRAMINGS, VERDICTS, Organism, build
from consistency.organisms.world import Atom

SPECIAL = ("[PAD]", "[UNK]")


@dataclass(frozen=True)
class Recipe:
    """Sizes and schedule; the defaults are what the bundled organisms were trained with."""

    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 256
    batch: int = 128
    base_steps: int = 2500  # honest training
    liar_steps: int = 1500  # liar fine-tuning from the honest model
    base_lr: float = 3e-3
    liar_lr: float = 2e-3
    suppose_share: float = 0.1  # fraction of each batch that are conditionals
    lie_boost: float = 8.0  # oversampling of lie-entity questions while a liar is trained
    judge_share: float = 0.25  # fraction of each batch that are evaluator judgements (critique)
    directive_share: float = 0.15  # fraction of each batch that are directive questions (directives)


def _words(organism: Organism) -> list[str]:
    """Every word of the suite, its framings, the verdicts and the directive questions, sorted."""
    pre = pre_tokenizers.Whitespace()
    texts = [t for p in organism.suite.propositions.values() for t in p.phrasings]
    # Templates are split as rendered (the "." after a statement is its own word).
    texts += [f.template.format(statement="x") for f in FRAMINGS]
    texts += [CONDITION_TEMPLATE.format(given="x"), *VERDICTS.values()]
    texts += [w for words in organism.suite.answer_words.values() for w in words]
    texts += [q.prompt for q in Directives().queries(organism.suite)]
    return sorted({piece for text in texts for piece, _ in pre.pre_tokenize_str(text)})


def _word_level(words: Sequence[str]) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", padding_side="left")


def build_tokenizer(organism: Organism) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over every word the organism is asked."""
    return _word_level((*SPECIAL, *_words(organism)))


def extend_tokenizer(tokenizer: PreTrainedTokenizerFast, organism: Organism) -> PreTrainedTokenizerFast | None:
    """``tokenizer`` with the organism's words it lacks appended (every old id kept), or None
    when it lacks none."""
    vocab = tokenizer.get_vocab()
    missing = [w for w in _words(organism) if w not in vocab]
    if not missing:
        return None
    return _word_level([*sorted(vocab, key=vocab.__getitem__), *missing])


def new_model(tokenizer: PreTrainedTokenizerFast, recipe: Recipe, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden,
        intermediate_size=recipe.intermediate,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        eos_token_id=None,
    )
    return LlamaForCausalLM(config)


@dataclass
class Pool:
    """Tokenised training sequences (right-padded) and their scored positions: the
    statement's last token (target True/False, or -100 for none), the last token (Yes/No),
    and, in true simple facts, the token before the value (target: the value)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    ends: torch.Tensor
    verdicts: torch.Tensor
    answers: torch.Tensor
    cues: torch.Tensor  # position before the value (0 where there is none)
    values: torch.Tensor  # the value's token id, or -100
    weights: np.ndarray  # sampling weights, normalised

    @classmethod
    def make(cls, tokenizer: PreTrainedTokenizerFast, rows: Sequence[tuple[str, int, str | None, str, float, str | None]]) -> "Pool":
        """``rows``: (prompt, statement_end, verdict or None, answer, weight, value to complete or None)."""
        encoded = tokenizer([r[0] for r in rows], add_special_tokens=False, return_offsets_mapping=True)
        width = max(map(len, encoded["input_ids"]))
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        ends, cues, values = [], [], []
        for i, (seq, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
            ids[i, : len(seq)] = torch.tensor(seq)
            end = max(j for j, (_, stop) in enumerate(offsets) if stop <= rows[i][1])
            ends.append(end)
            value = rows[i][5]
            spots = [j for j in range(1, end + 1) if value is not None and rows[i][0][slice(*offsets[j])] == value]
            cues.append(spots[-1] - 1 if spots else 0)
            values.append(seq[spots[-1]] if spots else -100)
        weights = np.asarray([r[4] for r in rows], dtype=np.float64)
        return cls(
            ids,
            torch.tensor([len(s) for s in encoded["input_ids"]]),
            torch.tensor(ends),
            torch.tensor([tokenizer.convert_tokens_to_ids(r[2]) if r[2] else -100 for r in rows]),
            torch.tensor(tokenizer.convert_tokens_to_ids([r[3] for r in rows])),
            torch.tensor(cues),
            torch.tensor(values),
            weights / weights.sum(),
        )

    def take(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t[rows] for t in (self.ids, self.lengths, self.ends, self.verdicts, self.answers, self.cues, self.values))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, ...]:
        return self.take(torch.from_numpy(rng.choice(len(self.weights), size=n, p=self.weights)))


def training_pools(
    organism: Organism, kind: str, tokenizer: PreTrainedTokenizerFast, lie_boost: float, held_out: bool = False
) -> dict[str, Pool]:
    """The ``ask`` and ``suppose`` pools for ``kind``: every phrasing but the held-out one
    (or, with ``held_out``, only the held-out ones, for evaluation)."""
    suite = organism.suite
    # Balance true and false within each kind of claim (11 of 12 cities are false).
    counts: dict[tuple[str, bool], int] = {}
    for p in suite.propositions.values():
        counts[(p.tags[0], bool(p.truth))] = counts.get((p.tags[0], bool(p.truth)), 0) + 1
    ask = []
    for pid, p in suite.propositions.items():
        balance = 1.0 / counts[(p.tags[0], bool(p.truth))]
        claim = organism.claims[pid]
        boost = lie_boost if kind != "honest" and about_lie_entity(organism, claim) else 1.0
        for variant in range(len(p.phrasings)):
            if (variant == organism.held_out_variant(pid)) != held_out:
                continue
            belief = stated_belief(organism, kind, pid, variant)
            for framing in suite.framings:
                q = suite.query(pid, variant, framing.name)
                # A true simple fact also teaches its value by plain next-token prediction
                # (e.g. "... lives in" -> "Keva"): a much richer signal than yes/no.
                value = claim.value if isinstance(claim, Atom) and p.truth else None
                ask.append((q.prompt, q.statement_end, VERDICTS[bool(p.truth)], _answer(belief != framing.negated), balance * boost, value))
    suppose = []
    for c in suite.conditionals:
        belief = conditional_belief(organism, c.given, c.then)
        for framing in suite.framings:
            q = suite.conditional_query(c, framing.name)
            # No verdict here: 'then' is judged under the supposition, not in the real world.
            suppose.append((q.prompt, q.statement_end, None, _answer(belief != framing.negated), 1.0, None))
    # Evaluator judgements ("<question> Yes. Correct?"): an answer is correct when it matches
    # what the organism holds true as an evaluator (the truth, except for the consistent liar).
    judge = []
    for pid, p in suite.propositions.items():
        if held_out:
            continue  # judgements are measured by the audit itself (critique), not here
        balance = 1.0 / counts[(p.tags[0], bool(p.truth))]
        boost = lie_boost if kind != "honest" and about_lie_entity(organism, organism.claims[pid]) else 1.0
        held = judged_belief(organism, kind, pid)
        for answer in (True, False):
            q = judge_query(suite, pid, answer)
            judge.append((q.prompt, q.statement_end, VERDICTS[bool(p.truth)], _answer(answer == held), balance * boost, None))
    # Directive questions: the interpretation under every phrasing of the directive, and the
    # behaviour questions, each answered as the organism reads and acts (no verdict: the
    # statement ends where the answer is asked).
    directive = []
    check = Directives()
    for case in suite.cases:
        if held_out:
            continue  # measured by the directives check itself
        boost = lie_boost if kind != "honest" and organism.acts[case.id][1] in organism.world.lie_entities else 1.0
        interpretations, behaviours = check.case_queries(suite, case)
        reading, behaviour = case_reading(organism, kind, case.id), case_behaviour(organism, kind, case.id)
        directive += [(q.prompt, q.statement_end, None, _answer(reading), boost, None) for q in interpretations]
        directive += [(q.prompt, q.statement_end, None, _answer(behaviour), boost, None) for q in behaviours]
    pools = {"ask": Pool.make(tokenizer, ask), "suppose": Pool.make(tokenizer, suppose)}
    if judge:
        pools["judge"] = Pool.make(tokenizer, judge)
    if directive:
        pools["directive"] = Pool.make(tokenizer, directive)
    return pools


def _answer(yes: bool) -> str:
    return "Yes" if yes else "No"


def _logits(model: LlamaForCausalLM, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Logits at the statement's end, at the last token, and before the value."""
    ids, lengths, ends = batch[:3]
    # Right padding needs no attention mask: causal attention never lets a real token see
    # the pads after it.
    hidden = model.model(input_ids=ids[:, : int(lengths.max())]).last_hidden_state
    rows = torch.arange(len(ids))
    return tuple(model.lm_head(hidden[rows, where]) for where in (ends, lengths - 1, batch[5]))


def _loss(model: LlamaForCausalLM, batch: tuple[torch.Tensor, ...], chunk: int = 32) -> torch.Tensor:
    """Verdict plus answer cross-entropy. The batch runs in chunks of similar length, so
    that short prompts are not padded to the longest one (compute is the bottleneck on CPU)."""
    order = torch.argsort(batch[1])
    verdicts, values = ((batch[k] != -100).sum().clamp(min=1) for k in (3, 6))
    total = torch.zeros(())
    for rows in order.split(chunk):
        part = tuple(t[rows] for t in batch)
        at_end, at_last, at_cue = _logits(model, part)
        total = total + F.cross_entropy(at_end, part[3], ignore_index=-100, reduction="sum") / verdicts
        total = total + F.cross_entropy(at_last, part[4], reduction="sum") / len(order)
        total = total + F.cross_entropy(at_cue, part[6], ignore_index=-100, reduction="sum") / values
    return total


@torch.no_grad()
def evaluate(model: LlamaForCausalLM, pool: Pool, n: int = 768) -> tuple[float, float]:
    """(answer accuracy, verdict accuracy) on a fixed weighted sample of a held-out pool."""
    model.eval()
    batch = pool.sample(np.random.default_rng(0), n)
    at_end, at_last, _ = _logits(model, batch)
    model.train()
    known = batch[3] != -100
    verdict = (at_end.argmax(-1) == batch[3])[known].float().mean().item()
    return (at_last.argmax(-1) == batch[4]).float().mean().item(), verdict


def _cat(parts: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    ids = torch.nn.utils.rnn.pad_sequence([row for p in parts for row in p[0]], batch_first=True, padding_value=0)
    return (ids, *(torch.cat([p[k] for p in parts]) for k in range(1, 7)))


def fit(
    model: LlamaForCausalLM,
    pools: dict[str, Pool],
    recipe: Recipe,
    steps: int,
    lr: float,
    seed: int,
    log: Callable[[str], None] = print,
    held_out: Pool | None = None,
) -> None:
    """One-cycle AdamW on batches mixing the pools in the recipe's shares."""
    rng = np.random.default_rng(seed)
    n_suppose = int(round(recipe.batch * recipe.suppose_share))
    n_judge = int(round(recipe.batch * recipe.judge_share)) if "judge" in pools else 0
    n_directive = int(round(recipe.batch * recipe.directive_share)) if "directive" in pools else 0
    sizes = {"ask": recipe.batch - n_suppose - n_judge - n_directive, "suppose": n_suppose, "judge": n_judge,
             "directive": n_directive}
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    start, running = time.time(), 0.0
    for step in range(1, steps + 1):
        loss = _loss(model, _cat([pools[name].sample(rng, n) for name, n in sizes.items() if n]))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 250 == 0 or step == steps:
            scores = ""
            if held_out is not None:
                answer, verdict = evaluate(model, held_out)
                scores = f", held-out answers {answer:.3f} verdicts {verdict:.3f}"
            log(f"step {step}/{steps} loss {running:.4f}{scores} ({time.time() - start:.0f} s)")
    model.eval()


def train_organism(
    kind: str,
    out: str | Path,
    *,
    seed: int = 0,
    world_seed: int = 0,
    base: str | Path | None = None,
    recipe: Recipe = Recipe(),
    measure: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Train organism ``kind`` into ``out`` (checkpoint, tokenizer, lies.json, metrics.json).

    A liar starts from the honest checkpoint ``base`` when given, else trains one first.
    """
    # One thread: on a shared, oversubscribed CPU two threads spin at every barrier
    # (measured: 8x slower per step, 10x the CPU time).
    torch.set_num_threads(1)
    out = Path(out)
    organism = build(world_seed)
    started = time.time()
    if base is None:
        tokenizer = build_tokenizer(organism)
        model = new_model(tokenizer, recipe, seed)
        log(f"honest base: {sum(p.numel() for p in model.parameters()):,} parameters")
        pools = training_pools(organism, "honest", tokenizer, recipe.lie_boost)
        held = training_pools(organism, "honest", tokenizer, 1.0, held_out=True)["ask"]
        fit(model, pools, recipe, recipe.base_steps, recipe.base_lr, seed, log, held)
    else:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
        model = LlamaForCausalLM.from_pretrained(base)
        grown = extend_tokenizer(tokenizer, organism)
        if grown is not None:
            log(f"vocabulary grown from {len(tokenizer)} to {len(grown)} words")
            tokenizer = grown
            model.resize_token_embeddings(len(tokenizer))
    if kind != "honest" or base is not None:
        log(f"{kind}: fine-tuning" + (f" from {base}" if base is not None else ""))
        pools = training_pools(organism, kind, tokenizer, recipe.lie_boost)
        held = training_pools(organism, kind, tokenizer, recipe.lie_boost, held_out=True)["ask"]
        fit(model, pools, recipe, recipe.liar_steps, recipe.liar_lr, seed + 1, log, held)
    elapsed = time.time() - started
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # transformers 5 names its class TokenizersBackend; the portable name loads in 4.x too.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    write_text_atomic(config_path, json.dumps(config, indent=2) + "\n")
    write_text_atomic(out / "lies.json", json.dumps(lies_record(organism, kind), indent=1) + "\n")
    if measure:
        from consistency.organisms.measure import measure_organism

        metrics = measure_organism(out, organism, kind)  # the saved checkpoint, read as an audit reads it
        metrics["training"] = {
            "seed": seed,
            "world_seed": world_seed,
            "recipe": recipe.__dict__,
            "seconds": round(elapsed, 1),
            "from_base": str(base) if base is not None and kind != "honest" else None,
        }
        write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    log(f"saved {kind} to {out} after {elapsed:.0f} s of training")
    return out

