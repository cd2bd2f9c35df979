"""The hf adapter and the engine on a tiny real Llama-shaped checkpoint built by the test."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from consistency.adapters.base import AdapterError, Prompt
from consistency.adapters.hf import LENGTH_BUCKETS, HFAdapter, _choose_layers, bucket_width
from consistency.cache import AnswerCache
from consistency.engine import elicit, unique_prompts
from consistency.suite import Conditional, Proposition, Suite
from tests.tiny_models import build_tiny_llama

STATEMENTS = [
    "Paris is the capital of France",
    "the sky is green",
    "water boils at 100 degrees",
    "two plus two is five",
    "cats have fur",
    "x",
    "the capital of France is a city with more than two million people living in it",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # A 32-wide model is all per-op overhead: extra threads only add synchronisation, which
    # on a busy machine multiplies the run time several-fold.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def adapter(model_dir):
    return HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=4)


@pytest.fixture(scope="module")
def suite() -> Suite:
    props = {f"p{i}": Proposition(f"p{i}", text, variants=(text + " indeed",)) for i, text in enumerate(STATEMENTS)}
    return Suite("engine-test", props, conditionals=[Conditional("c0", given="p0", then="p4")])


def every_prompt(suite: Suite) -> list[Prompt]:
    queries = [suite.query(pid, v, f.name) for pid in suite.propositions for v in range(2) for f in suite.framings]
    queries.append(suite.conditional_query(suite.conditionals[0]))
    return unique_prompts(queries, queries)


def reference(adapter: HFAdapter, prompt: Prompt) -> tuple[float, np.ndarray]:
    """P(yes) and hidden states (layers, tokens, hidden) of one prompt, the plain transformers way."""
    encoding = adapter.tokenizer(prompt.text, return_tensors="pt")
    with torch.inference_mode():
        output = adapter.model(**encoding, output_hidden_states=True)
    logits = output.logits[0, -1]
    p_yes = torch.sigmoid(logits[adapter.yes_ids].logsumexp(-1) - logits[adapter.no_ids].logsumexp(-1))
    states = torch.stack(output.hidden_states)[list(adapter.layers), 0]  # (layers, tokens, hidden)
    return float(p_yes), states.numpy()


@pytest.fixture(scope="module")
def prompts(suite) -> list[Prompt]:
    return every_prompt(suite)


@pytest.fixture(scope="module")
def batched(adapter, prompts):
    return adapter.answer(prompts)


@pytest.fixture(scope="module")
def references(adapter, prompts):
    return [reference(adapter, p) for p in prompts]


# ----- equivalence: batching must not change the numbers -----------------------------
def test_batched_answers_equal_batch_size_one(adapter, prompts, batched):
    lengths = {len(adapter.tokenizer(p.text)["input_ids"]) for p in prompts}
    assert len(lengths) > 5  # batches really mix lengths, so left padding is exercised
    single = [adapter.answer([p])[0] for p in prompts]
    p_batched = np.array([a.p_yes for a in batched])
    p_single = np.array([a.p_yes for a in single])
    assert p_batched.std() > 0.05  # answers that differ between prompts, not a constant
    np.testing.assert_allclose(p_batched, p_single, atol=1e-4, rtol=0)
    for b, s in zip(batched, single):
        for site in ("last", "statement_end"):
            np.testing.assert_allclose(b.hidden[site], s.hidden[site], atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batched_equals_batch_size_one_on_gpu(model_dir, prompts, references):
    adapter = HFAdapter(model_dir, device="cuda", dtype="float32", batch_size=16)
    batched = adapter.answer(prompts)
    single = [adapter.answer([p])[0] for p in prompts]
    np.testing.assert_allclose([a.p_yes for a in batched], [a.p_yes for a in single], atol=1e-4, rtol=0)
    np.testing.assert_allclose([a.p_yes for a in batched], [r[0] for r in references], atol=1e-4, rtol=0)
    for b, s in zip(batched, single):
        np.testing.assert_allclose(b.hidden["statement_end"], s.hidden["statement_end"], atol=1e-3, rtol=1e-3)


def test_answers_match_plain_transformers_at_every_layer(adapter, batched, references):
    for answer, (p_yes, states) in zip(batched, references):
        assert answer.p_yes == pytest.approx(p_yes, abs=1e-4)
        assert answer.hidden["last"].shape == (len(adapter.layers), adapter.model.config.hidden_size)
        np.testing.assert_allclose(answer.hidden["last"], states[:, -1], atol=1e-4, rtol=1e-4)


def test_statement_end_site_is_the_statement_last_token(adapter, prompts, batched, references):
    # Independent of the offsets logic: the tokens up to the site decode to the prompt up to
    # the statement's end, and the hidden state there is the one transformers reports.
    for prompt, answer, (_, states) in zip(prompts, batched, references):
        ids = adapter.tokenizer(prompt.text)["input_ids"]
        matches = [i for i in range(len(ids)) if np.allclose(states[:, i], answer.hidden["statement_end"], atol=1e-4)]
        assert matches, prompt.text
        decoded = adapter.tokenizer.decode(ids[: matches[-1] + 1], skip_special_tokens=True)
        assert decoded == prompt.text[: prompt.statement_end]


def test_left_padding_does_not_move_a_short_prompt(adapter, suite):
    short = Prompt(suite.query("p5").prompt, suite.query("p5").statement_end, want_hidden=True)
    long_ = Prompt(suite.query("p6").prompt, suite.query("p6").statement_end, want_hidden=True)
    together = adapter.answer([short, long_])[0]
    alone = adapter.answer([short])[0]
    assert together.p_yes == pytest.approx(alone.p_yes, abs=1e-5)
    np.testing.assert_allclose(together.hidden["statement_end"], alone.hidden["statement_end"], atol=1e-5)
    np.testing.assert_allclose(together.hidden["last"], alone.hidden["last"], atol=1e-5)


def test_answers_come_back_in_input_order_and_hidden_only_where_asked(adapter, prompts, references):
    asked = [Prompt(p.text, p.statement_end, want_hidden=i == 3) for i, p in enumerate(prompts)]
    for prompt, answer, (p_yes, _) in zip(asked, adapter.answer(asked), references):
        assert answer.p_yes == pytest.approx(p_yes, abs=1e-4)
        assert bool(answer.hidden) == prompt.want_hidden


def test_no_prompts_no_work(adapter):
    assert adapter.answer([]) == []


# ----- less work for the same numbers: shared prefixes, the head at one position ----------
def tokens_through(adapter: HFAdapter) -> list[int]:
    """Token positions that go through the model's embeddings, per forward pass (appended)."""
    seen: list[int] = []
    adapter.model.get_input_embeddings().register_forward_hook(lambda module, args, out: seen.append(args[0].numel()))
    return seen


def test_a_shared_prefix_is_computed_once_and_changes_no_number(model_dir, prompts):
    context = "Background: " + ". ".join(STATEMENTS) + ".\n"
    asked = [Prompt(context + p.text, len(context) + p.statement_end, want_hidden=True) for p in prompts]
    sharing = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=8)
    plain = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=8)
    plain.share_prefix = False
    shared_tokens, plain_tokens = tokens_through(sharing), tokens_through(plain)
    got, expected = sharing.answer(asked), plain.answer(asked)
    # Each batch of 8 embeds the context once instead of 8 times.
    assert sum(shared_tokens) < 0.5 * sum(plain_tokens)
    assert len(shared_tokens) == 2 * len(plain_tokens)  # one prefix pass per batch
    np.testing.assert_allclose([a.p_yes for a in got], [a.p_yes for a in expected], atol=1e-5, rtol=0)
    for g, e in zip(got, expected):
        for site in ("last", "statement_end"):
            np.testing.assert_allclose(g.hidden[site], e.hidden[site], atol=1e-4, rtol=1e-4)
    alone = plain.answer(asked[:1])[0]
    assert got[0].p_yes == pytest.approx(alone.p_yes, abs=1e-5)


def test_a_shared_prefix_stops_before_any_statement_ends(adapter, suite):
    # The first prompt's statement is the start of the second's: the batch shares them both up to
    # that statement's last token, which must still be computed (and read) in the batch.
    short = Prompt("Question: Is it true that cats have fur", len("Question: Is it true that cats have fur"), True)
    longer = Prompt(short.text + " and whiskers?\nAnswer:", short.statement_end + len(" and whiskers"), True)
    assert adapter._shared_prefix(adapter._encode([short, longer])) >= 4
    together = adapter.answer([short, longer])
    for prompt, answer in zip([short, longer], together):
        alone = adapter.answer([prompt])[0]
        assert answer.p_yes == pytest.approx(alone.p_yes, abs=1e-5)
        for site in ("last", "statement_end"):
            np.testing.assert_allclose(answer.hidden[site], alone.hidden[site], atol=1e-5, rtol=1e-5)


def test_the_head_runs_on_the_answer_position_only(adapter, prompts):
    shapes: list[tuple[int, ...]] = []
    handle = adapter.model.get_output_embeddings().register_forward_hook(
        lambda module, args, out: shapes.append(tuple(args[0].shape))
    )
    try:
        adapter.answer(prompts[:6])
    finally:
        handle.remove()
    hidden = adapter.model.config.hidden_size
    assert shapes and all(shape[-2:] == (1, hidden) for shape in shapes)  # one position per prompt
    assert sum(shape[0] for shape in shapes) == 6


# ----- the compiled forward (--compile) ------------------------------------------------
class CountingBackend:
    """A torch.compile backend that runs the captured graph as is and counts the graphs captured."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph, example_inputs):
        self.graphs += 1
        return graph.forward


def test_compiled_answers_equal_the_uncompiled_in_few_graphs(model_dir, prompts, batched):
    backend = CountingBackend()
    compiled = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=4, compile=True, compile_backend=backend)
    widths = {len(e.ids) for e in compiled._encode(prompts)}
    assert len(widths) > 5  # many batch widths...
    got = compiled.answer(prompts)
    buckets = {bucket_width(w) for w in widths}
    # ...but one graph per bucket, every batch padded to the full batch size
    assert compiled.compiled_shapes == {(4, width) for width in buckets} and len(buckets) < len(widths)
    assert backend.graphs == len(buckets)
    np.testing.assert_allclose([a.p_yes for a in got], [a.p_yes for a in batched], atol=1e-4, rtol=0)
    for g, b in zip(got, batched):
        assert set(g.hidden) == set(b.hidden)
        for site in b.hidden:
            np.testing.assert_allclose(g.hidden[site], b.hidden[site], atol=1e-4, rtol=1e-4)
    compiled.answer(prompts[:3])  # a smaller call: same shapes, no new graph
    assert backend.graphs == len(buckets)
    assert bucket_width(1) == LENGTH_BUCKETS[0] and bucket_width(33) == 48
    assert bucket_width(LENGTH_BUCKETS[-1] + 1) == 2 * LENGTH_BUCKETS[-1]


@pytest.mark.slow
def test_compiled_with_inductor_equals_the_uncompiled_in_float32(model_dir, prompts, batched):
    compiled = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=4, compile=True)
    got = compiled.answer(prompts)
    np.testing.assert_allclose([a.p_yes for a in got], [a.p_yes for a in batched], atol=1e-4, rtol=0)
    for g, b in zip(got, batched):
        np.testing.assert_allclose(g.hidden["last"], b.hidden["last"], atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-4), ("bfloat16", 1e-2)])
def test_compiled_equals_the_uncompiled_on_gpu(model_dir, prompts, dtype, tolerance):
    plain = HFAdapter(model_dir, device="cuda", dtype=dtype, batch_size=16)
    compiled = HFAdapter(model_dir, device="cuda", dtype=dtype, batch_size=16, compile=True)
    expected, got = plain.answer(prompts), compiled.answer(prompts)
    np.testing.assert_allclose([a.p_yes for a in got], [a.p_yes for a in expected], atol=tolerance, rtol=0)
    assert len(compiled.compiled_shapes) <= len(LENGTH_BUCKETS)


def test_compile_with_a_device_map_is_a_one_line_error(model_dir):
    with pytest.raises(AdapterError, match="--compile cannot be combined with --device-map") as error:
        HFAdapter(model_dir, device="cpu", compile=True, device_map="auto")
    assert "\n" not in str(error.value)


# ----- batch size ----------------------------------------------------------------------
def test_auto_batch_size_halves_on_out_of_memory(model_dir, prompts, batched, monkeypatch):
    adapter = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size="auto")
    expected = [a.p_yes for a in batched]
    forward = adapter._forward
    seen = []

    def small_memory(batch, want_hidden):
        seen.append(len(batch))
        if len(batch) > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(batch, want_hidden)

    monkeypatch.setattr(adapter, "_forward", small_memory)
    progress = []
    got = [a.p_yes for a in adapter.answer(prompts, progress=progress.append)]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # The CPU's auto start of 32, halved until a batch fits, then kept.
    assert seen[:4] == [32, 16, 8, 4] and set(seen[4:]) <= {4, 3}
    assert adapter.batch_size == 4 and sum(progress) == len(prompts)


def test_fixed_batch_size_out_of_memory_is_a_one_line_error(model_dir, prompts, monkeypatch):
    adapter = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=8)

    def no_memory(batch, want_hidden):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(adapter, "_forward", no_memory)
    with pytest.raises(AdapterError, match="out of memory at batch size 8") as error:
        adapter.answer(prompts)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("size", [0, "00", -1, 2.5, "many"])
def test_bad_batch_size_is_a_one_line_error(model_dir, size):
    with pytest.raises(AdapterError, match="batch size must be 'auto' or a positive integer"):
        HFAdapter(model_dir, device="cpu", batch_size=size)


def test_batch_size_given_as_text(model_dir):
    assert HFAdapter(model_dir, device="cpu", batch_size="8").batch_size == 8


# ----- setup: layers, answer words, fingerprint ---------------------------------------
def test_layers_auto_and_explicit(model_dir):
    assert HFAdapter(model_dir, device="cpu").layers == (0, 1, 2, 3)  # small model: all of them
    assert _choose_layers("auto", 22) == (0, 4, 9, 13, 18, 22)  # a 1.1B Llama: six, ends included
    assert HFAdapter(model_dir, device="cpu", layers=[3, 1, 3]).layers == (1, 3)
    with pytest.raises(AdapterError, match=r"within 0\.\.3"):
        HFAdapter(model_dir, device="cpu", layers=[4])


def test_only_requested_layers_are_captured(model_dir, prompts, references):
    adapter = HFAdapter(model_dir, device="cpu", dtype="float32", layers=[2])
    answer = adapter.answer(prompts[:1])[0]
    assert answer.hidden["last"].shape[0] == 1
    _, states = references[0]  # all layers 0..3 of the first prompt
    np.testing.assert_allclose(answer.hidden["last"][0], states[2, -1], atol=1e-5)


def test_answer_tokens_include_leading_space_variants(adapter):
    ids = {adapter.tokenizer.decode([i]) for i in adapter.yes_ids}
    assert " Yes" in ids


def test_no_single_token_answer_word_is_a_one_line_error(model_dir):
    with pytest.raises(AdapterError) as error:
        HFAdapter(model_dir, device="cpu", answer_words={"yes": ["Affirmative"], "no": ["No"]})
    message = str(error.value)
    assert "'Affirmative'" in message and "' Affirmative'" in message and "'yes'" in message
    assert str(model_dir) in message and "\n" not in message


def test_fingerprint_follows_what_changes_the_numbers(model_dir, tmp_path):
    base = HFAdapter(model_dir, device="cpu", dtype="float32")
    assert HFAdapter(model_dir, device="cpu", dtype="float32").fingerprint == base.fingerprint
    assert HFAdapter(model_dir, device="cpu", dtype="bfloat16").fingerprint != base.fingerprint
    assert HFAdapter(model_dir, device="cpu", dtype="float32", layers=[1]).fingerprint != base.fingerprint
    words = {"yes": ["Yes"], "no": ["No"]}
    assert HFAdapter(model_dir, device="cpu", dtype="float32", answer_words=words).fingerprint != base.fingerprint
    changed = shutil.copytree(model_dir, tmp_path / "copy")
    config = json.loads((changed / "config.json").read_text())
    (changed / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    assert HFAdapter(changed, device="cpu", dtype="float32").fingerprint != base.fingerprint


# ----- loading safely: one-line errors -------------------------------------------------
def one_line_error(path, **options) -> str:
    with pytest.raises(AdapterError) as error:
        HFAdapter(path, device="cpu", **options)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_directory_and_uncached_hub_id(tmp_path):
    assert "no model directory" in one_line_error(tmp_path / "nowhere")
    message = one_line_error("nobody-xyz/not-a-cached-model")
    assert "nobody-xyz/not-a-cached-model" in message and "local cache" in message


def test_hub_id_in_the_local_cache(model_dir, tmp_path, monkeypatch, prompts, references):
    import huggingface_hub.constants

    # The hub cache layout: models--<org>--<name>/snapshots/<commit>/ and refs/main -> commit.
    repo = tmp_path / "hub" / "models--tiny-org--tiny-llama"
    shutil.copytree(model_dir, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    adapter = HFAdapter("tiny-org/tiny-llama", device="cpu", dtype="float32")
    assert adapter.answer(prompts[:1])[0].p_yes == pytest.approx(references[0][0], abs=1e-6)


def test_not_a_causal_language_model(tmp_path):
    from transformers import ViTConfig

    ViTConfig().save_pretrained(tmp_path)
    assert "not a causal language model (ViTConfig)" in one_line_error(tmp_path)


def test_remote_code_needs_the_flag(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "my-secret-arch", "auto_map": {"AutoModelForCausalLM": "modeling.MyLM"}})
    )
    (tmp_path / "modeling.py").write_text("raise SystemExit('remote code ran')\n")
    assert "--trust-remote-code" in one_line_error(tmp_path)


def test_no_weights(model_dir, tmp_path):
    bare = shutil.copytree(model_dir, tmp_path / "bare", ignore=shutil.ignore_patterns("*.safetensors"))
    assert "no weights" in one_line_error(bare)


def test_not_a_model_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert "no config.json" in one_line_error(tmp_path)


class _Payload:
    def __reduce__(self):
        return (exec, ("raise SystemExit('unpickling ran code')",))


def test_pickle_weights_load_weights_only(tmp_path, prompts, references):
    pickled = build_tiny_llama(tmp_path / "pickled", safe_serialization=False)
    assert not list(pickled.glob("*.safetensors"))
    legacy = HFAdapter(pickled, device="cpu", dtype="float32").answer(prompts[:1])[0]
    assert legacy.p_yes == pytest.approx(references[0][0], abs=1e-6)  # same seed, same weights

    state = torch.load(pickled / "pytorch_model.bin", weights_only=True)
    torch.save({**state, "payload": _Payload()}, pickled / "pytorch_model.bin")
    assert "refusing to load the pickle weights" in one_line_error(pickled)


# ----- the engine with the hf adapter ---------------------------------------------------
def test_elicit_with_cache_resumes_without_a_forward_pass(model_dir, suite, tmp_path, monkeypatch):
    queries = [suite.query(pid, v, f.name) for pid in suite.propositions for v in range(2) for f in suite.framings]
    hidden_for = queries[::3]
    adapter = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=4)
    first = elicit(adapter, queries, hidden_for, cache=AnswerCache(tmp_path, adapter.fingerprint), chunk_size=8)
    assert len(first.credences) == len(queries)
    assert first.has_hidden_for(hidden_for) and first.layers == adapter.layers

    again = HFAdapter(model_dir, device="cpu", dtype="float32", batch_size=4)
    monkeypatch.setattr(again, "_forward", lambda *a: pytest.fail("the cache should have answered"))
    second = elicit(again, queries, hidden_for, cache=AnswerCache(tmp_path, again.fingerprint))
    assert second.credences == first.credences
    for query in hidden_for:
        np.testing.assert_array_equal(
            second.hidden["statement_end"][query.prompt], first.hidden["statement_end"][query.prompt]
        )


def test_trailing_eos_from_the_tokenizer_is_not_where_the_model_answers(model_dir, tmp_path, prompts, references):
    from tokenizers import Tokenizer, processors

    copy = shutil.copytree(model_dir, tmp_path / "eos")
    tokenizer = Tokenizer.from_file(str(copy / "tokenizer.json"))
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tokenizer.save(str(copy / "tokenizer.json"))
    adapter = HFAdapter(copy, device="cpu", dtype="float32")
    assert adapter.tokenizer(prompts[0].text)["input_ids"][-1] == eos
    for answer, (p_yes, states) in zip(adapter.answer(prompts[:4]), references[:4]):
        assert answer.p_yes == pytest.approx(p_yes, abs=1e-4)
        np.testing.assert_allclose(answer.hidden["last"], states[:, -1], atol=1e-4, rtol=1e-4)


def test_the_compile_option_reaches_the_adapter(model_dir, suite, clean_compile_env):
    from consistency.audit import build_adapter
    from consistency.config import AuditConfig

    adapter = build_adapter(str(model_dir), AuditConfig(compile=True, device="cpu"), suite)
    assert adapter.compiled is not None  # type: ignore[attr-defined]
    assert build_adapter(str(model_dir), AuditConfig(device="cpu"), suite).compiled is None  # type: ignore[attr-defined]


@pytest.fixture
def clean_compile_env(monkeypatch):
    monkeypatch.delenv("CONSISTENCY_COMPILE", raising=False)
