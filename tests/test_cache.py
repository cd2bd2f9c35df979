"""The answer cache and the engine's use of it: resume, incremental re-runs, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import consistency.cache as cache_module
from consistency.adapters.base import Prompt, PromptAnswer
from consistency.adapters.scripted import ScriptedAdapter
from consistency.cache import AnswerCache, CacheError
from consistency.engine import elicit, unique_prompts
from consistency.suite import Proposition, Suite


def make_suite(n: int = 12) -> Suite:
    props = {
        f"p{i}": Proposition(f"p{i}", f"item {i} is red", variants=(f"item {i} has the colour red",), truth=i % 2 == 0)
        for i in range(n)
    }
    return Suite("cache-test", props)


class Counting:
    """Wraps an adapter, counts the prompts it is asked, and can fail after a number of them."""

    def __init__(self, inner: ScriptedAdapter, fail_after: int | None = None):
        self.inner = inner
        self.fingerprint, self.layers, self.supports_hidden = inner.fingerprint, inner.layers, True
        self.asked: list[str] = []
        self.fail_after = fail_after

    def answer(self, prompts, progress=None):
        if self.fail_after is not None and len(self.asked) + len(prompts) > self.fail_after:
            raise KeyboardInterrupt  # what a user's Ctrl-C looks like to the engine
        self.asked += [p.text for p in prompts]
        return self.inner.answer(prompts, progress)


@pytest.fixture
def suite() -> Suite:
    return make_suite()


def all_queries(suite: Suite) -> list:
    return [suite.query(pid, v, f.name) for pid in suite.propositions for v in range(2) for f in suite.framings]


def assert_same_answers(a, b) -> None:
    assert a.credences == b.credences
    assert a.hidden.keys() == b.hidden.keys()
    for site in a.hidden:
        assert a.hidden[site].keys() == b.hidden[site].keys()
        for prompt, states in a.hidden[site].items():
            np.testing.assert_array_equal(states, b.hidden[site][prompt])


def test_round_trip_through_disk(tmp_path, suite):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite)[:6], all_queries(suite)[:3])
    answers = adapter.answer(prompts)
    AnswerCache(tmp_path, adapter.fingerprint).put(prompts, answers)

    reopened = AnswerCache(tmp_path, adapter.fingerprint)
    assert len(reopened) == 6 and reopened.missing(prompts) == []
    for got, want, prompt in zip(reopened.get(prompts), answers, prompts):
        assert got.p_yes == want.p_yes  # float64 storage: exact
        assert got.hidden.keys() == want.hidden.keys() == ({"last", "statement_end"} if prompt.want_hidden else set())
        for site in got.hidden:
            np.testing.assert_array_equal(got.hidden[site], want.hidden[site])


def test_prompt_cached_without_hidden_is_recomputed_when_hidden_is_wanted(tmp_path, suite):
    adapter = Counting(ScriptedAdapter(suite))
    queries = all_queries(suite)
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    elicit(adapter, queries, cache=cache)
    adapter.asked.clear()

    wanted = queries[:5]
    answers = elicit(adapter, queries, hidden_for=wanted, cache=AnswerCache(tmp_path, adapter.fingerprint))
    assert sorted(adapter.asked) == sorted(q.prompt for q in wanted)
    assert answers.has_hidden_for(wanted)
    # And once stored, the entry with hidden states wins over the older one without them.
    assert AnswerCache(tmp_path, adapter.fingerprint).missing(unique_prompts(queries, wanted)) == []


def test_interrupted_run_resumes_and_computes_only_the_rest(tmp_path, suite):
    queries = all_queries(suite)
    n_prompts = len(unique_prompts(queries))
    reference = elicit(ScriptedAdapter(suite), queries, hidden_for=queries[:10])

    interrupted = Counting(ScriptedAdapter(suite), fail_after=25)
    with pytest.raises(KeyboardInterrupt):
        elicit(interrupted, queries, hidden_for=queries[:10], cache=AnswerCache(tmp_path, interrupted.fingerprint),
               chunk_size=10)
    assert len(interrupted.asked) == 20  # two whole chunks written before the third failed

    resumed = Counting(ScriptedAdapter(suite))
    answers = elicit(resumed, queries, hidden_for=queries[:10], cache=AnswerCache(tmp_path, resumed.fingerprint),
                     chunk_size=10)
    assert len(resumed.asked) == n_prompts - 20
    assert not set(resumed.asked) & set(interrupted.asked)
    assert_same_answers(answers, reference)


def test_an_interrupted_run_loses_at_most_a_few_of_the_adapters_batches(tmp_path, suite):
    """The chunks written to the cache follow the adapter's batch size: on a CPU, where a batch
    takes seconds, a Ctrl-C must not throw away thousands of answered prompts."""
    interrupted = Counting(ScriptedAdapter(suite), fail_after=30)
    interrupted.batch_size = 2  # chunks of CHUNK_BATCHES * 2 = 8 prompts
    with pytest.raises(KeyboardInterrupt):
        elicit(interrupted, all_queries(suite), cache=AnswerCache(tmp_path, interrupted.fingerprint))
    assert len(interrupted.asked) == 24  # three chunks of 8 answered and cached; the fourth was lost
    assert len(list(Path(tmp_path).rglob("shard-*.safetensors"))) == 3


def test_rerun_with_one_more_check_computes_only_the_new_prompts(tmp_path, suite):
    first = [suite.query(pid) for pid in suite.propositions]
    extra = [suite.query(pid, 1, "is-false") for pid in suite.propositions]
    adapter = Counting(ScriptedAdapter(suite))
    elicit(adapter, first, cache=AnswerCache(tmp_path, adapter.fingerprint))
    adapter.asked.clear()

    answers = elicit(adapter, first + extra, cache=AnswerCache(tmp_path, adapter.fingerprint))
    assert sorted(adapter.asked) == sorted(q.prompt for q in extra)
    assert_same_answers(answers, elicit(ScriptedAdapter(suite), first + extra))

    adapter.asked.clear()
    elicit(adapter, first + extra, cache=AnswerCache(tmp_path, adapter.fingerprint))
    assert adapter.asked == []


def test_kill_while_writing_a_shard_leaves_the_cache_intact(tmp_path, suite, monkeypatch):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts[:5], adapter.answer(prompts[:5]))

    def dies_halfway(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"half a shard")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module, "save_file", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        cache.put(prompts[5:10], adapter.answer(prompts[5:10]))
    monkeypatch.undo()

    assert not [p for p in cache.path.iterdir() if p.name.endswith(".tmp")]
    reopened = AnswerCache(tmp_path, adapter.fingerprint)
    assert len(reopened) == 5 and reopened.missing(prompts[:10]) == prompts[5:10]


def test_kill_between_listing_a_shard_and_renaming_it_recomputes_that_chunk(tmp_path, suite, monkeypatch):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts[:4], adapter.answer(prompts[:4]))
    real_replace = cache_module.atomic_path.__globals__["os"].replace

    def dies_on_the_shard(source, target):
        if str(target).endswith(".safetensors"):
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(cache_module.atomic_path.__globals__["os"], "replace", dies_on_the_shard)
    with pytest.raises(KeyboardInterrupt):
        cache.put(prompts[4:8], adapter.answer(prompts[4:8]))
    monkeypatch.undo()

    assert len(json.loads((cache.path / "manifest.json").read_text())["shards"]) == 2  # listed, never renamed
    reopened = AnswerCache(tmp_path, adapter.fingerprint)
    assert reopened.missing(prompts[:8]) == prompts[4:8]
    reopened.put(prompts[4:8], adapter.answer(prompts[4:8]))
    assert AnswerCache(tmp_path, adapter.fingerprint).missing(prompts[:8]) == []


def poisoned(cache: AnswerCache, prompts, p_yes, extra_tensors=None) -> Path:
    """A shard an attacker drops into the cache: the same keys, other answers."""
    from safetensors.numpy import save_file

    keys = [cache.key(p) for p in prompts]
    path = cache.path / "shard-ffffffff.safetensors"
    tensors = {"p_yes": np.array(p_yes, dtype=np.float64), **(extra_tensors or {})}
    save_file(tensors, str(path), metadata={"keys": json.dumps(keys), "hidden_rows": json.dumps([-1] * len(keys))})
    return path


def list_in_manifest(cache: AnswerCache, shard: Path) -> None:
    """The attacker also rewrites the manifest, with the right hash: only value checks remain."""
    manifest = json.loads((cache.path / "manifest.json").read_text())
    manifest["shards"].append({"name": shard.name, "sha256": cache_module._sha256(shard)})
    (cache.path / "manifest.json").write_text(json.dumps(manifest))


def assert_refused(tmp_path, fingerprint, match):
    with pytest.raises(CacheError, match=match) as error:
        AnswerCache(tmp_path, fingerprint)
    assert "\n" not in str(error.value) and "delete that directory" in str(error.value)


def test_an_unlisted_shard_is_refused(tmp_path, suite):
    # The poisoning in issue 12: beliefs of 0.00018 became 0.999 through a dropped-in shard.
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))[:4]
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts, adapter.answer(prompts))
    poisoned(cache, prompts, [0.999] * 4)
    assert_refused(tmp_path, adapter.fingerprint, "shard-ffffffff.safetensors, which its manifest does not list")


def test_an_altered_shard_is_refused(tmp_path, suite):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))[:4]
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts, adapter.answer(prompts))
    shard = next(cache.path.glob("shard-*.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-8:] = np.array([0.999], dtype=np.float64).tobytes()  # the last answer, rewritten in place
    shard.write_bytes(bytes(data))
    assert_refused(tmp_path, adapter.fingerprint, "SHA-256 differs")


@pytest.mark.parametrize(
    "p_yes, extra, match",
    [
        ([0.5, 5.0], None, r"p_yes = 5.0 at row 1, not a probability"),
        ([0.5, float("nan")], None, "not a probability"),
        ([0.5, -0.1], None, "not a probability"),
        ([0.5], None, r"p_yes of shape \[1\], not \[2\]"),
        ([0.5, 0.5], {"last": np.zeros((1, 2, 4), dtype=np.float32)}, "shape"),
    ],
)
def test_values_that_are_not_answers_are_refused(tmp_path, suite, p_yes, extra, match):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))[:2]
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts, adapter.answer(prompts))
    list_in_manifest(cache, poisoned(cache, prompts, p_yes, extra))
    assert_refused(tmp_path, adapter.fingerprint, match)


def test_an_audit_on_a_poisoned_cache_stops_with_one_line(tmp_path, capsys):
    from consistency.cli import main

    out = tmp_path / "run"
    argv = ["audit", "organism:honest", "--limit", "3", "--no-ladder", "--no-report", "--quiet",
            "--checks", "cross-examination", "--out", str(out)]
    assert main(argv) == 0
    (cache_dir,) = (out / "cache").iterdir()
    shard = next(cache_dir.glob("shard-*.safetensors"))
    (cache_dir / "shard-ffffffff.safetensors").write_bytes(shard.read_bytes())
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the answer cache") and "does not list" in err[0]


def test_caches_of_different_models_do_not_mix(tmp_path, suite):
    honest, liar = ScriptedAdapter(suite), ScriptedAdapter(suite, lies={"p0": "consistent"})
    query = [suite.query("p0")]
    elicit(honest, query, cache=AnswerCache(tmp_path, honest.fingerprint))
    lied = elicit(liar, query, cache=AnswerCache(tmp_path, liar.fingerprint))
    assert lied.belief(query[0]) < 0.5 < elicit(honest, query).belief(query[0])


def test_cache_of_another_model_is_refused(tmp_path, suite):
    honest, liar = ScriptedAdapter(suite), ScriptedAdapter(suite, lies={"p0": "consistent"})
    with pytest.raises(CacheError, match="another model"):
        elicit(liar, [suite.query("p0")], cache=AnswerCache(tmp_path, honest.fingerprint))


def test_unreadable_manifest_is_refused(tmp_path, suite):
    # Without the manifest no shard can be verified, so none is used.
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts[:4], adapter.answer(prompts[:4]))
    (cache.path / "manifest.json").write_text("{not json")
    assert_refused(tmp_path, adapter.fingerprint, "unreadable manifest.json")


def test_corrupt_shard_is_refused(tmp_path, suite):
    adapter = Counting(ScriptedAdapter(suite))
    queries = [suite.query(pid) for pid in suite.propositions]
    elicit(adapter, queries, cache=AnswerCache(tmp_path, adapter.fingerprint), chunk_size=6)
    cache_dir = AnswerCache(tmp_path, adapter.fingerprint).path
    broken = sorted(cache_dir.glob("shard-*.safetensors"))[0]
    broken.write_bytes(b"\x00" * 100)
    assert_refused(tmp_path, adapter.fingerprint, "SHA-256 differs")


def test_cache_of_another_format_is_refused_untouched(tmp_path, suite):
    adapter = ScriptedAdapter(suite)
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    manifest = {"format": 99, "fingerprint": adapter.fingerprint, "shards": []}
    (cache.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match="another format or model") as error:
        AnswerCache(tmp_path, adapter.fingerprint)
    assert "\n" not in str(error.value)
    assert json.loads((cache.path / "manifest.json").read_text()) == manifest


def test_manifest_lists_the_shards(tmp_path, suite):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite))
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    for start in (0, 3):
        cache.put(prompts[start : start + 3], adapter.answer(prompts[start : start + 3]))
    manifest = json.loads((cache.path / "manifest.json").read_text())
    assert manifest["fingerprint"] == adapter.fingerprint
    listed = {entry["name"]: entry["sha256"] for entry in manifest["shards"]}
    on_disk = {p.name: cache_module._sha256(p) for p in cache.path.glob("shard-*.safetensors")}
    assert listed == on_disk and len(listed) == 2


def test_key_depends_on_text_and_statement_end(tmp_path):
    cache = AnswerCache(tmp_path, "fp")
    base = Prompt("Is it true that x?", 17)
    assert cache.key(base) == cache.key(Prompt("Is it true that x?", 17, want_hidden=True))
    assert cache.key(base) != cache.key(Prompt("Is it true that x?", 16))
    assert cache.key(base) != AnswerCache(tmp_path, "other").key(base)


def test_progress_bar_counts_computed_prompts(tmp_path, suite, capsys):
    adapter = ScriptedAdapter(suite)
    answers = elicit(adapter, all_queries(suite), progress=True, cache=AnswerCache(tmp_path, adapter.fingerprint))
    assert f"{len(answers.credences)}/{len(answers.credences)}" in capsys.readouterr().err


def test_put_of_answers_without_hidden_states(tmp_path):
    cache = AnswerCache(tmp_path, "fp")
    prompts = [Prompt("a", 1), Prompt("b", 1)]
    cache.put(prompts, [PromptAnswer(0.25, {}), PromptAnswer(0.75, {})])
    assert [a.p_yes for a in AnswerCache(tmp_path, "fp").get(prompts)] == [0.25, 0.75]


# ----- hidden states read from the shards, not held in memory -----------------------
def test_hidden_states_are_read_from_the_shards_and_equal_the_in_memory_ones(tmp_path, suite):
    queries = all_queries(suite)
    in_memory = elicit(ScriptedAdapter(suite), queries, hidden_for=queries[:20])
    assert all(isinstance(table, dict) for table in in_memory.hidden.values())  # one chunk: kept in memory

    streamed = elicit(ScriptedAdapter(suite), queries, hidden_for=queries[:20],
                      cache=AnswerCache(tmp_path, ScriptedAdapter(suite).fingerprint), chunk_size=7)
    assert all(isinstance(table, cache_module.HiddenTable) for table in streamed.hidden.values())
    assert_same_answers(streamed, in_memory)
    wanted = [q for q in queries[:20] if q.prompt in streamed.hidden["statement_end"]]
    for layer in streamed.layers:
        np.testing.assert_array_equal(streamed.hidden_matrix(wanted, layer), in_memory.hidden_matrix(wanted, layer))


def test_without_a_cache_more_hidden_states_than_a_chunk_go_to_a_temporary_cache(suite):
    import gc

    queries = all_queries(suite)
    reference = elicit(ScriptedAdapter(suite), queries, hidden_for=queries[:20])
    spilled = elicit(ScriptedAdapter(suite), queries, hidden_for=queries[:20], chunk_size=4)
    table = spilled.hidden["statement_end"]
    assert isinstance(table, cache_module.HiddenTable)
    assert_same_answers(spilled, reference)
    directory = table._cache.path.parent
    assert directory.name.startswith("consistency-hidden-") and directory.exists()
    del spilled, table
    gc.collect()
    assert not directory.exists()  # removed with the last table that read from it


def test_a_changed_copy_overlays_the_shards_without_copying_them(tmp_path, suite):
    queries = all_queries(suite)
    answers = elicit(ScriptedAdapter(suite), queries, hidden_for=queries[:20],
                     cache=AnswerCache(tmp_path, ScriptedAdapter(suite).fingerprint), chunk_size=7)
    base = answers.hidden["statement_end"]
    prompts = list(base)
    moved = {prompts[1]: base[prompts[1]] + 1.0}
    liar = answers.with_hidden("statement_end", moved)
    overlay = liar.hidden["statement_end"]
    assert overlay.base is base and len(overlay) == len(base) and set(overlay) == set(base)
    layer = answers.layers[2]
    rows = liar.hidden_matrix([q for q in queries[:20] if q.prompt in base][:4], layer)
    want = np.stack([(moved.get(p, base[p]))[2] for p in [q.prompt for q in queries[:20] if q.prompt in base][:4]])
    np.testing.assert_array_equal(rows, want)
    assert answers.hidden["statement_end"] is base  # the original is untouched


def test_non_finite_hidden_states_in_a_shard_are_refused_when_read(tmp_path, suite):
    adapter = ScriptedAdapter(suite)
    prompts = unique_prompts(all_queries(suite)[:2], all_queries(suite)[:2])
    answers = adapter.answer(prompts)
    answers[1].hidden["last"][0, 0] = np.nan
    cache = AnswerCache(tmp_path, adapter.fingerprint)
    cache.put(prompts, answers)
    table = cache.hidden_tables(prompts)["last"]
    np.testing.assert_array_equal(table[prompts[0].text], answers[0].hidden["last"])
    with pytest.raises(CacheError, match="not all finite"):
        table.layer_rows([prompts[0].text], 0)  # the shard's column holds the NaN
    with pytest.raises(CacheError, match="not all finite"):
        table[prompts[1].text]


def test_layer_features_hold_one_layer_at_a_time():
    from consistency.answers import LayerFeatures

    reads: list[int] = []

    def read(layer: int) -> np.ndarray:
        reads.append(layer)
        return np.full((3, 2), float(layer))

    features = LayerFeatures((0, 2, 5), read)
    assert list(features) == [0, 2, 5] and len(features) == 3
    assert [float(x[0, 0]) for _, x in features.items()] == [0.0, 2.0, 5.0]
    features[5]  # the last layer read again: kept, not read again
    assert reads == [0, 2, 5]
    with pytest.raises(KeyError):
        features[1]
    once = LayerFeatures((0, 2), read, keep_last=False)
    once[2], once[2]
    assert reads[3:] == [2, 2]  # nothing kept: read again


def test_a_sweep_reads_each_layer_once_from_each_mapping():
    from consistency.answers import LayerFeatures
    from probes.mass_mean import MassMeanProbe
    from probes.sweep import sweep_layers

    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    reads: list[tuple[str, int]] = []

    def reader(split: str):
        def read(layer: int) -> np.ndarray:
            reads.append((split, layer))
            return rng.normal(size=(40, 3)) + y[:, None] * layer
        return read

    sweep_layers(MassMeanProbe(), LayerFeatures((1, 2), reader("trusted"), keep_last=False), y,
                 np.random.default_rng(1), evaluate=LayerFeatures((1, 2), reader("audited"), keep_last=False),
                 y_eval=y.astype(float), n_boot=10)
    assert reads == [("trusted", 1), ("audited", 1), ("trusted", 2), ("audited", 2)]


def test_the_engine_hands_freed_memory_back_after_every_chunk(monkeypatch, tmp_path, suite):
    import consistency.engine as engine

    calls: list[int] = []
    monkeypatch.setattr(engine, "release_freed_memory", lambda: calls.append(1))
    adapter = ScriptedAdapter(suite)
    queries = [suite.query(pid) for pid in suite.propositions][:10]
    engine.elicit(adapter, queries, queries, cache=AnswerCache(tmp_path, adapter.fingerprint), chunk_size=4)
    assert len(calls) == 3  # chunks of 4, 4 and 2 prompts
