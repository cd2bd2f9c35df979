"""Models larger than one device: a checkpoint sharded by a device map answers exactly as the
whole model does, hidden states included; quantised loading fails with one clear line where it
cannot run. On CPU the shards are the CPU and disk offload (accelerate moves each offloaded
block's weights in for its forward pass, through the same hooks a multi-GPU map uses)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from consistency.adapters.base import AdapterError, Prompt
from consistency.cli import main
from tiny_models import build_tiny_llama

pytest.importorskip("accelerate", reason="device maps need accelerate (the 'scale' extra)")
from consistency.adapters.hf import HFAdapter  # noqa: E402

PROMPTS = [
    Prompt("Question: Is it true that Paris is the capital of France?\nAnswer:", 44, True),
    Prompt("Question: Is it true that two plus two is five?\nAnswer:", 34, True),
    Prompt("True or false: water boils at 100 degrees. Is this statement true?\nAnswer:", 41, False),
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), n_layers=3)


def assert_same_answers(whole: HFAdapter, sharded: HFAdapter) -> None:
    assert sharded.fingerprint == whole.fingerprint  # placement does not change the numbers, so the cache is shared
    for want, got in zip(whole.answer(PROMPTS), sharded.answer(PROMPTS)):
        assert got.p_yes == want.p_yes
        assert got.hidden.keys() == want.hidden.keys()
        for site in want.hidden:
            np.testing.assert_array_equal(got.hidden[site], want.hidden[site])


def test_an_explicit_map_over_cpu_and_disk_answers_as_the_whole_model(tiny_model):
    whole = HFAdapter(tiny_model, device="cpu")
    device_map = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
                  "model.layers.1": "disk", "model.layers.2": "disk", "model.norm": "cpu", "lm_head": "cpu"}
    sharded = HFAdapter(tiny_model, device="cpu", device_map=device_map)
    assert sharded.hf_device_map["model.layers.1"] == "disk"
    assert_same_answers(whole, sharded)


def test_device_map_auto_with_a_memory_cap_splits_the_blocks_and_answers_the_same(tiny_model):
    whole = HFAdapter(tiny_model, device="cpu")
    sharded = HFAdapter(tiny_model, device="cpu", device_map="auto", max_memory={"cpu": "150KB"})
    placed = set(sharded.hf_device_map.values())
    assert placed == {"cpu", "disk"}, sharded.hf_device_map  # the cap leaves the later blocks to disk
    assert_same_answers(whole, sharded)


def test_placement_mistakes_are_one_line(tiny_model):
    with pytest.raises(AdapterError, match="device map must be one of auto"):
        HFAdapter(tiny_model, device="cpu", device_map="everywhere")
    with pytest.raises(AdapterError, match="only applies with a device map"):
        HFAdapter(tiny_model, device="cpu", max_memory={"cpu": "1GiB"})


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None and torch.cuda.is_available(),
                    reason="bitsandbytes and CUDA are here: quantised loading would run")
@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_quantised_loading_without_bitsandbytes_or_cuda_is_one_line(tiny_model, bits):
    with pytest.raises(AdapterError, match=f"--load-in {bits} needs (bitsandbytes|a CUDA device)"):
        HFAdapter(tiny_model, load_in=bits)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-memory", "cpu=1GiB"], "max memory only applies with a device map"),
        (["--ray-workers", "2"], "apply only with --backend ray"),
        (["--device-map", "auto", "--max-memory", "cpu"], "expected DEVICE=SIZE"),
    ],
)
def test_cli_placement_mistakes_give_one_error_line(tmp_path, capsys, argv, message):
    try:
        code = main(["audit", "--suite", "builtin:arithmetic", "--out", str(tmp_path / "r"), *argv])
    except SystemExit as exit_:  # argparse's own errors (a malformed value) exit from the parser
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "error:" in err[-1] and message in err[-1]  # argparse prefixes "consistency audit: "
    assert not any("Traceback" in line for line in err)


def test_cli_passes_the_placement_to_the_adapter(tiny_model, tmp_path, monkeypatch):
    seen = {}
    real = HFAdapter.__init__

    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        real(self, *args, **kwargs)

    monkeypatch.setattr(HFAdapter, "__init__", spy)
    monkeypatch.setenv("CONSISTENCY_MAX_MEMORY", "cpu=150KB")
    code = main(["audit", str(tiny_model), "--suite", "builtin:comparisons", "--limit", "4", "--checks",
                 "cross-examination", "--device", "cpu", "--device-map", "auto", "--no-ladder", "--no-report",
                 "--quiet", "--out", str(tmp_path / "run")])
    assert code == 0
    assert seen["device_map"] == "auto" and seen["max_memory"] == {"cpu": "150KB"} and seen["load_in"] is None


# ----- on a GPU machine (`pytest -m gpu`); not run on CPU-only CI ----------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_map_auto_over_the_visible_gpus_answers_as_one_gpu(tiny_model):
    whole = HFAdapter(tiny_model, device="cuda", dtype="float32")
    sharded = HFAdapter(tiny_model, device="cuda", dtype="float32", device_map="balanced")
    assert sharded.fingerprint == whole.fingerprint
    for want, got in zip(whole.answer(PROMPTS), sharded.answer(PROMPTS)):
        assert got.p_yes == pytest.approx(want.p_yes, abs=1e-5)
        for site in want.hidden:
            np.testing.assert_allclose(got.hidden[site], want.hidden[site], atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None,
                    reason="needs a CUDA device and bitsandbytes")
@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_quantised_loading_answers_with_its_own_fingerprint(tiny_model, bits):
    full = HFAdapter(tiny_model, device="cuda")
    quantised = HFAdapter(tiny_model, load_in=bits)
    assert quantised.fingerprint != full.fingerprint  # its answers differ: its own cache entries
    answers = quantised.answer(PROMPTS)
    assert all(0.0 <= a.p_yes <= 1.0 for a in answers)
    assert answers[0].hidden["last"].shape == (len(quantised.layers), 32)
