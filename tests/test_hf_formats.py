"""The HF adapter on real checkpoint formats: chat templates, answer words in every tokenizer
family, GGUF paths, and the few-shot framing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from consistency.adapters.base import AdapterError, Prompt
from consistency.adapters.hf import HFAdapter, _answer_ids, _resolve
from consistency.errors import UserError
from consistency.suite import Conditional, Proposition, Suite
from tests.tiny_models import build_tiny_llama

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory) -> Path:
    path = build_tiny_llama(tmp_path_factory.mktemp("chat-llama"))
    config = path / "tokenizer_config.json"
    import json

    data = json.loads(config.read_text())
    data["chat_template"] = CHAT_TEMPLATE
    config.write_text(json.dumps(data))
    return path


def _reference_p_yes(adapter: HFAdapter, text: str) -> float:
    ids = torch.tensor([adapter.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        logits = adapter.model(input_ids=ids).logits[0, -1]
    return float(torch.sigmoid(logits[adapter.yes_ids].logsumexp(-1) - logits[adapter.no_ids].logsumexp(-1)))


def test_chat_auto_follows_the_template_and_reads_the_opened_assistant_turn(chat_dir):
    adapter = HFAdapter(chat_dir, device="cpu", batch_size=2)
    assert adapter.chat is True
    text = "Question: Is it true that Paris is the capital of France?\nAnswer:"
    prompt = Prompt(text, text.index("?"), want_hidden=True)
    (encoded,) = adapter._encode([prompt])
    rendered = adapter.tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    # the last token read is the opened assistant turn's, not the user's "Answer:"
    assert adapter.tokenizer.decode(encoded.ids).endswith("assistant\n")
    assert adapter.tokenizer.decode(encoded.ids[: encoded.statement_index + 1]).endswith("France")
    (answer,) = adapter.answer([prompt])
    assert answer.p_yes == pytest.approx(_reference_p_yes(adapter, rendered), abs=1e-5)
    # chat off asks the bare text; the two readings differ
    plain = HFAdapter(chat_dir, device="cpu", batch_size=2, chat="off")
    assert plain.chat is False and plain.fingerprint != adapter.fingerprint
    assert plain.answer([prompt])[0].p_yes != pytest.approx(answer.p_yes, abs=1e-6)


def test_chat_generation_continues_the_opened_assistant_turn(chat_dir):
    """Explanations from a chat model are its replies: the request is the user's turn."""
    adapter = HFAdapter(chat_dir, device="cpu", batch_size=2)
    texts = ["Question: Is it true that 2 plus 2 is 4?\nAnswer: yes\nExplanation:", "Is the sky blue?"]
    got = adapter.generate(texts, max_new_tokens=4)
    for text, out in zip(texts, got):
        rendered = adapter.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        ids = adapter.tokenizer(rendered, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            alone = adapter.model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=adapter.pad_id)
        assert out == adapter.tokenizer.decode(alone[0, ids.shape[1]:], skip_special_tokens=True)


def test_chat_on_without_a_template_is_a_clean_error(tmp_path):
    path = build_tiny_llama(tmp_path)
    with pytest.raises(AdapterError, match="has no chat template"):
        HFAdapter(path, device="cpu", chat="on")
    assert HFAdapter(path, device="cpu").chat is False  # auto: no template, no chat


# ----- answer words in each tokenizer family -------------------------------------------------
def _family(kind: str):
    """A tokenizer of one family, trained on answers after a space and after a newline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["Answer: Yes", "Answer: No", "assistant\nYes", "assistant\nNo", "Is it true? yes no"] * 20
    special = ["<unk>", "<s>", "</s>"]
    if kind == "word-level":
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(special_tokens=special)
    elif kind == "byte-level":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:  # SentencePiece: "▁" marks a space; after a newline a word has none (as in Llama 2)
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split("\n", "isolated"), pre_tokenizers.Metaspace(prepend_scheme="first")]
        )
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(special_tokens=special)
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


@pytest.mark.parametrize("kind", ["word-level", "byte-level", "sentencepiece"])
def test_answer_ids_cover_the_token_after_a_space_and_after_a_newline(kind):
    tokenizer = _family(kind)
    yes = _answer_ids(tokenizer, ["Yes", "yes"], "yes", kind)
    no = _answer_ids(tokenizer, ["No", "no"], "no", kind)
    assert not set(yes) & set(no)
    for context in ("Answer: ", "assistant\n"):
        for word, ids in (("Yes", yes), ("No", no)):
            emitted = tokenizer.encode(context + word, add_special_tokens=False)[-1]
            assert tokenizer.decode([emitted]).strip() == word, (kind, context)
            assert emitted in ids, (kind, context, tokenizer.convert_ids_to_tokens([emitted]))
    # every id found spells the word itself, never a longer token or <unk>
    assert {tokenizer.decode([i]).strip() for i in yes} <= {"Yes", "yes"}
    if kind != "word-level":  # the space-marked and the bare form are different tokens
        assert len({tokenizer.decode([i]).strip() for i in yes}) < len(yes)


# ----- GGUF paths ------------------------------------------------------------------------
def test_a_directory_with_one_gguf_file_resolves_to_it(tmp_path):
    (tmp_path / "model.Q4.gguf").write_bytes(b"GGUF")
    assert _resolve(tmp_path) == (tmp_path, tmp_path / "model.Q4.gguf")
    assert _resolve(tmp_path / "model.Q4.gguf") == (tmp_path, tmp_path / "model.Q4.gguf")
    (tmp_path / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(AdapterError, match="several GGUF files"):
        _resolve(tmp_path)


def test_gguf_without_the_extra_is_one_clean_line(tmp_path, monkeypatch, capsys):
    from consistency.cli import main

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    status = main(["audit", str(gguf), "--suite", "builtin:comparisons", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("error: model.gguf is a GGUF model") and "pip install 'consistency[gguf]'" in err[0]


def test_a_broken_gguf_file_is_a_clean_error(tmp_path):
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"not a gguf file at all")
    with pytest.raises(AdapterError, match="broken.gguf"):
        HFAdapter(gguf, device="cpu")


# ----- few-shot framing --------------------------------------------------------------------
def _shot_suite(n: int = 12) -> Suite:
    props = {
        f"t{i}": Proposition(f"t{i}", f"statement {i}", truth=i % 2 == 0, split="train" if i < n else "test")
        for i in range(n + 4)
    }
    return Suite("shots", props, conditionals=[Conditional("c", given="t0", then="t2")])


def test_shots_are_balanced_solved_trusted_examples_never_the_claim_itself():
    suite = _shot_suite()
    suite.shots = 4
    suite.check_shots()
    for pid in suite.propositions:
        for framing in suite.framings:
            query = suite.query(pid, 0, framing.name)
            blocks = query.prompt.split("\n\n")
            examples, question = blocks[:-1], blocks[-1]
            assert len(examples) == 4
            said_true = [e.endswith(" Yes") != framing.negated for e in examples]
            assert sorted(said_true) == [False, False, True, True]  # balanced
            shown = [int(re.search(r"statement (\d+)", e).group(1)) for e in examples]
            assert int(pid[1:]) not in shown and all(i < 12 for i in shown)  # trusted only, never the claim
            # each example answered with its truth
            for i, example in zip(shown, examples):
                assert example.endswith(" Yes") == ((i % 2 == 0) != framing.negated)
            # the statement still ends where the query says
            assert query.prompt[: query.statement_end].endswith(f"statement {pid[1:]}")
            assert question.startswith(framing.template.partition("{statement}")[0])
    conditional = suite.conditional_query(suite.conditionals[0])
    assert "statement 0?" not in conditional.prompt.split("Suppose")[0]  # the supposition is no example
    assert "statement 2?" not in conditional.prompt.split("Suppose")[0]
    assert conditional.prompt[: conditional.statement_end].endswith("statement 2")
    assert suite.query("t3") == suite.query("t3")  # reproducible


def test_too_few_trusted_statements_for_the_shots_is_one_line():
    suite = _shot_suite(4)
    suite.shots = 4
    with pytest.raises(UserError, match="--shots 4 needs at least 4 true and 4 false trusted statements"):
        suite.check_shots()


def test_shots_reach_the_model(chat_dir):
    suite = _shot_suite()
    suite.shots = 2
    adapter = HFAdapter(chat_dir, device="cpu", chat="off", batch_size=4)
    query = suite.query("t13")
    (answer,) = adapter.answer([Prompt(query.prompt, query.statement_end)])
    assert np.isfinite(answer.p_yes) and query.prompt.count("\n\n") == 2


def test_a_part_of_a_suite_asks_the_prompts_the_whole_suite_asked():
    # The ladder re-runs checks on the footprint of each lie, looking answers up by prompt.
    suite = _shot_suite()
    suite.shots = 4
    part = Suite("part", {"t13": suite.propositions["t13"]}, shots=4, shot_pool=suite.shot_candidates)
    assert part.query("t13") == suite.query("t13")
    own = Suite("part", {"t13": suite.propositions["t13"]}, shots=4)
    with pytest.raises(UserError):  # its own trusted split is empty
        own.check_shots()
