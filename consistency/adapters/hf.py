"""The Hugging Face adapter: a local transformers causal LM answers yes/no prompts.

For each prompt it returns P(yes), the softmax mass on the yes answer tokens normalised over
the yes and no tokens at the last position, and, when asked, the hidden states at the captured
layers at two sites: the last token and the statement's last token.

Safe by default: nothing is fetched from the network (a hub id must already be in the local
cache), no remote code runs unless ``trust_remote_code``, safetensors weights are preferred
and pickle weights are only read with weights-only unpickling.

Layer numbering follows ``output_hidden_states``: 0 is the input to the first decoder block
(the embeddings), ``i`` the output of block ``i``, and the last layer is read after the final
norm, exactly as transformers reports it. Hidden states are captured with forward hooks that
keep only the two positions read, never a whole layer.

A model larger than one device loads with ``device_map`` (accelerate places the blocks across
the visible GPUs, the CPU and, past ``max_memory``, disk); the hooks sit on the blocks
wherever they run, and each captured layer is moved to the device the logits come out on
before the states are read out. ``load_in`` ("8bit", "4bit") quantises the weights with
bitsandbytes on CUDA.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import pickle
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

import numpy as np
import torch

from consistency.adapters.base import AdapterError, Prompt, PromptAnswer, ProgressCallback
from consistency.answers import SITES
from consistency.config import positive_batch_size
from consistency.suite import DEFAULT_ANSWER_WORDS

DeviceName = Literal["auto", "cpu", "cuda"]
ChatMode = Literal["auto", "on", "off"]
DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")  # accelerate's placement strategies
LoadIn = Literal["8bit", "4bit"]

# layers="auto": every layer of a model with up to 8 blocks, else 6 evenly spaced from the
# embeddings to the last block (enough for a layer sweep, a fraction of the memory).
AUTO_ALL_BLOCKS = 8
AUTO_LAYER_COUNT = 6
# Auto batch sizes start high and halve on out-of-memory. On a GPU, big batches are what
# fills the matrix units; on a CPU, throughput flattens beyond a few dozen prompts. (SmolLM2-135M
# on 2 shared cores: with one thread 16 answered 13% more claims per CPU-second than 32, but
# with two threads 32 answered 37% more than 16: fewer thread synchronisations per FLOP.)
AUTO_BATCH_SIZE = {"cuda": 1024, "cpu": 32}
# Prompts of one batch that open with the same tokens (a chat template's system turn, a
# framing's first words, shared few-shot examples) have those computed once: one forward pass
# over the shared prefix, whose keys and values every prompt then attends to. Below a few
# tokens the extra pass is not worth it.
MIN_SHARED_PREFIX = 4
# With --compile, each batch is padded to the next of these widths (tokens; past the last, to a
# multiple of it) and to the full batch size, so the compiled graph sees a few fixed shapes and
# is not recompiled for every batch width. Steps of 1.5x waste a sixth of the tokens on average.
LENGTH_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)
# Weight files above this size are fingerprinted by size, mtime and their first and last MiB
# instead of a full hash (hashing tens of GB would dominate a short audit). A weight file
# changed in place without changing any of those would be missed; copying it changes mtime.
FULL_HASH_LIMIT = 512 * 2**20
_BLOCK = 2**20
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")


@dataclass(frozen=True)
class _Encoded:
    ids: list[int]
    statement_index: int  # index in ``ids`` of the statement's last token


@dataclass(frozen=True)
class _Pending:
    """A launched batch: its results on the host once ``ready`` has passed (None: already there)."""

    p_yes: torch.Tensor
    hidden: torch.Tensor | None
    ready: torch.cuda.Event | None

    def collect(self) -> tuple[np.ndarray, np.ndarray]:
        """P(yes) and the hidden states as fresh float32 arrays (the buffers get reused)."""
        if self.ready is not None:
            self.ready.synchronize()
        hidden = self.hidden.to(torch.float32, copy=True).numpy() if self.hidden is not None else np.empty(0)
        return self.p_yes.to(torch.float32, copy=True).numpy(), hidden


class HFAdapter:
    """A local transformers causal LM behind the :class:`~consistency.adapters.base.Adapter` protocol."""

    supports_hidden = True

    def __init__(
        self,
        path_or_id: str | Path,
        answer_words: Mapping[str, Sequence[str]] | None = None,
        layers: Literal["auto"] | Sequence[int] = "auto",
        device: DeviceName = "auto",
        dtype: DtypeName = "auto",
        batch_size: Literal["auto"] | int | str = "auto",  # an integer as text is accepted (CLI)
        trust_remote_code: bool = False,
        chat: ChatMode = "auto",
        device_map: str | Mapping[str, int | str] | None = None,
        max_memory: Mapping[int | str, int | str] | None = None,
        load_in: LoadIn | None = None,
        compile: bool = False,
        compile_backend: str | Callable = "inductor",
    ):
        self.directory, self.gguf = _resolve(path_or_id)
        self.name = str(path_or_id)
        _check_placement(device_map, max_memory, load_in)
        if compile and (device_map is not None or load_in is not None):
            raise AdapterError("--compile cannot be combined with --device-map or --load-in (accelerate's hooks and "
                               "bitsandbytes' kernels do not compile); leave one out")
        if load_in is not None and device_map is None:
            device_map = "auto"  # bitsandbytes places the quantised weights itself
        self.device = torch.device(_device(device))
        self.dtype = _dtype(dtype, self.device)
        if self.device.type == "cpu":
            _fit_threads()
        try:
            size = positive_batch_size(batch_size)  # the configuration's rule: one rule for the CLI and the API
        except ValueError as exc:
            raise AdapterError(str(exc)) from None
        self._auto_batch = size == "auto"
        self.batch_size = AUTO_BATCH_SIZE[self.device.type] if size == "auto" else size

        # The GGUF file's SHA-256, in full: it identifies the weights in results.json, and at
        # a few GB/s hashing costs far less than dequantising the same file.
        self.gguf_sha256 = _sha256(self.gguf) if self.gguf else None
        config = _load_config(self.directory, trust_remote_code, self.gguf)
        self.tokenizer = _load_tokenizer(self.directory, trust_remote_code, self.gguf)
        self.chat = _chat(chat, self.tokenizer, self.name)
        self.render(Prompt("Is it true that water is wet?", 28))  # a chat template that fails, fails before the weights load
        words = {k: list(v) for k, v in (answer_words or DEFAULT_ANSWER_WORDS).items()}
        if set(words) != {"yes", "no"}:
            raise AdapterError(f"answer words need exactly the keys 'yes' and 'no', got {sorted(words)}")
        self.yes_ids = _answer_ids(self.tokenizer, words["yes"], "yes", self.name)
        self.no_ids = _answer_ids(self.tokenizer, words["no"], "no", self.name)
        if set(self.yes_ids) & set(self.no_ids):
            raise AdapterError(f"answer words {words} give the same token for yes and no")

        placement: dict = {}
        if device_map is not None:
            offload = tempfile.mkdtemp(prefix="consistency-offload-")  # for blocks placed on "disk"
            weakref.finalize(self, shutil.rmtree, offload, ignore_errors=True)
            placement = {"device_map": device_map if isinstance(device_map, str) else dict(device_map),
                         "offload_folder": offload, **_quantisation(load_in)}
            if max_memory is not None:
                placement["max_memory"] = dict(max_memory)
        self.model = _load_model(self.directory, config, self.dtype, trust_remote_code, self.gguf, placement)
        if device_map is None:
            self.model.to(self.device)
        else:
            # Inputs go where the embeddings are; accelerate's hooks move activations onwards.
            self.device = _input_device(self.model)
            self.hf_device_map = dict(getattr(self.model, "hf_device_map", {}))
        self.model.eval().requires_grad_(False)
        self._pinned: dict[tuple[int, str], torch.Tensor] = {}  # see _stage
        self._launches = 0
        self._blocks = _decoder_blocks(self.model, config)
        self.layers = _choose_layers(layers, len(self._blocks))
        # Only the answer position goes through the LM head: with a vocabulary of 32k-150k
        # tokens, every position's logits would cost more than the rest of the forward. The
        # model's own head (not a bare lm_head call) keeps any model-specific logit
        # post-processing, such as Gemma's soft-capping. The position is given as an index
        # tensor, not as ``logits_to_keep=1``: the int form slices a strided (batch, 1, hidden)
        # view, which torch multiplies with the head as a batched matmul against a copy of the
        # head per prompt (on SmolLM2-135M, a sixth of the CPU time went there).
        self._head_kwargs = (
            # (on the CPU: indexing a tensor on any device with it works, even across a device map)
            {"logits_to_keep": torch.tensor([-1])} if _accepts(self.model, "logits_to_keep") else {}
        )
        self.pad_id = next(
            (t for t in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id) if t is not None), 0
        )
        # Shared prefixes need the model's key-value cache in and out (``cache`` since
        # transformers 5, ``past_key_values`` before); a dispatched model keeps its own placement.
        self._cache_arg = next((a for a in ("cache", "past_key_values") if _accepts(self.model, a)), None)
        self.share_prefix = self._cache_arg is not None and device_map is None
        self.compiled = None
        if compile:
            # transformers (5.x) installs its hidden-state hooks on the first call that asks for
            # hidden states, under a lock that torch.compile cannot trace (a graph break in every
            # compiled forward): one small uncompiled call installs them first.
            with torch.inference_mode():
                self.model(input_ids=torch.tensor([[self.pad_id]], device=self.device), output_hidden_states=True)
            self.compiled = _compile(self._answer_graph, compile_backend)
        self.compiled_shapes: set[tuple[int, int]] = set()  # (batch, width) the compiled graph was given
        settings = {"answer_words": words, "dtype": str(self.dtype), "layers": list(self.layers), "chat": self.chat}
        if load_in is not None:
            settings["load_in"] = load_in  # quantised weights answer differently; placement does not change them
        if self.gguf_sha256:
            # A GGUF file holds weights, tokenizer and chat template: its hash is the model's
            # identity (other files next to it, e.g. a wheel's __init__.py, are not part of it).
            self.fingerprint = _settings_digest("gguf-" + self.gguf_sha256, settings)
        else:
            self.fingerprint = _fingerprint(self.directory, settings)

    # ----- the adapter interface ------------------------------------------------------
    def answer(self, prompts: Sequence[Prompt], progress: ProgressCallback | None = None) -> list[PromptAnswer]:
        if not prompts:
            return []
        encoded = self._encode(prompts)
        order = self.batch_order(encoded)
        out: list[PromptAnswer | None] = [None] * len(prompts)
        in_flight: tuple[list[int], _Pending] | None = None
        start = 0
        while start < len(order):
            rows = order[start : start + self.batch_size]
            want_hidden = any(prompts[i].want_hidden for i in rows)
            pending = self._try_forward([encoded[i] for i in rows], want_hidden)
            if pending is None:  # out of memory: retry the same prompts in a smaller batch
                self._back_off(len(encoded[rows[0]].ids))
                continue
            # The previous batch is unpacked only now, while the GPU computes this one: its
            # host-side work (upcasting, first touch of fresh memory) then costs no GPU time.
            if in_flight is not None:
                self._unpack(*in_flight, prompts, out, progress)
            in_flight = rows, pending
            start += len(rows)
        if in_flight is not None:
            self._unpack(*in_flight, prompts, out, progress)
        return out  # type: ignore[return-value]

    @staticmethod
    def batch_order(encoded: Sequence[_Encoded]) -> list[int]:
        """The order prompts are batched in (the Ray backend cuts its pieces along it too).

        Longest first: the first batch is the one most likely to run out of memory, so an auto
        batch size settles at once, and equal lengths in a batch mean little padding. Among
        equal lengths, by token ids: prompts that open alike (one framing) sit together, so
        their batch shares a longer prefix.
        """
        return sorted(range(len(encoded)), key=lambda i: (-len(encoded[i].ids), encoded[i].ids))

    def generate(self, texts: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        """Greedy continuations of ``texts`` (new text only), for the critique check's explanations.

        With chat on, each text is the user's turn and the model continues its own opened turn,
        as it does when it answers (a chat model continuing bare text is another model).
        """
        out: list[str] = []
        rendered = [self.render(Prompt(text, len(text)))[0] for text in texts]
        for start in range(0, len(rendered), self.batch_size):
            rows = self.tokenizer(rendered[start : start + self.batch_size], add_special_tokens=not self.chat)["input_ids"]
            width = max(map(len, rows))
            # Left padding keeps every prompt's last token at the end, where generation continues.
            ids = torch.tensor([[self.pad_id] * (width - len(r)) + r for r in rows], device=self.device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
            with torch.inference_mode():
                generated = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                                do_sample=False, pad_token_id=self.pad_id)
            out += self.tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)
        return out

    @staticmethod
    def _unpack(
        rows: list[int],
        pending: _Pending,
        prompts: Sequence[Prompt],
        out: list[PromptAnswer | None],
        progress: ProgressCallback | None,
    ) -> None:
        p_yes, hidden = pending.collect()
        for j, i in enumerate(rows):
            states = {site: hidden[j, s] for s, site in enumerate(SITES)} if prompts[i].want_hidden else {}
            out[i] = PromptAnswer(float(p_yes[j]), states)
        if progress:
            progress(len(rows))

    def _try_forward(self, batch: list[_Encoded], want_hidden: bool) -> _Pending | None:
        """The launched forward pass, or None when it ran out of memory."""
        try:
            return self._forward(batch, want_hidden)
        except RuntimeError as error:  # torch.OutOfMemoryError is a RuntimeError
            if _is_oom(error):
                # Returning (rather than backing off in here) lets the traceback, and the
                # failed batch's tensors it holds, go before the allocator cache is emptied.
                return None
            raise

    def _back_off(self, n_tokens: int) -> None:
        if not self._auto_batch or self.batch_size == 1:
            hint = "use a smaller --batch-size or 'auto'" if not self._auto_batch else "the prompt is too long"
            raise AdapterError(
                f"out of memory at batch size {self.batch_size} with {n_tokens}-token prompts on {self.device}; {hint}"
            )
        self.batch_size //= 2
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def render(self, prompt: Prompt) -> tuple[str, int]:
        """The text the model reads, and where the statement ends in it.

        With chat on, the question is the user's turn and the assistant's turn is opened, so
        the answer word is read where the assistant's reply begins.
        """
        if not self.chat:
            return prompt.text, prompt.statement_end
        try:
            rendered = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt.text}], tokenize=False, add_generation_prompt=True
            )
        except Exception as error:  # the template's own raise_exception, a Jinja syntax or type error
            raise AdapterError(f"the chat template of {self.name} fails on a question: {_first_line(error)}; "
                               "use --chat off") from None
        at = rendered.find(prompt.text)
        if at < 0:
            raise AdapterError(
                f"the chat template of {self.name} rewrites the question {prompt.text[:60]!r}; use --chat off"
            )
        return rendered, at + prompt.statement_end

    def _encode(self, prompts: Sequence[Prompt]) -> list[_Encoded]:
        rendered = [self.render(p) for p in prompts]
        # One call for the whole list: the fast tokenizer encodes it in parallel. A chat
        # template writes its own BOS where the model wants one.
        encodings = self.tokenizer(
            [text for text, _ in rendered], return_offsets_mapping=True, add_special_tokens=not self.chat
        )
        special = set(self.tokenizer.all_special_ids)
        out = []
        for (text, statement_end), ids, offsets in zip(rendered, encodings["input_ids"], encodings["offset_mapping"]):
            # A tokenizer that appends EOS would make the model answer after the end of the
            # text; the answer belongs right after the prompt's last real token. (A chat
            # template may end on a special token, such as an assistant header, that belongs.)
            while not self.chat and len(ids) > 1 and ids[-1] in special and offsets[-1][0] == offsets[-1][1]:
                ids, offsets = ids[:-1], offsets[:-1]
            # The statement's last token is the last real token that starts before the
            # statement's end. Special tokens (BOS) have empty spans and are skipped; a token
            # that runs past the end (the last word glued to "?") still counts: it is the first
            # to have seen the whole statement. Offsets are used rather than tokenising the
            # prefix on its own, because a prefix can tokenise differently (" Paris" vs " Paris?").
            inside = [i for i, (start, end) in enumerate(offsets) if end > start and start < statement_end]
            if not inside:
                raise AdapterError(f"cannot find the statement's end (offset {statement_end}) in {text!r}")
            out.append(_Encoded(list(ids), inside[-1]))
        return out

    @torch.inference_mode()
    def _forward(self, batch: list[_Encoded], want_hidden: bool) -> _Pending:
        """Launch one batch; on a GPU this returns before the results are computed."""
        if self.compiled is not None:
            return self._forward_compiled(batch)
        shared = self._shared_prefix(batch)
        ids_t, mask_t, positions_t, sites_t = self._layout(batch, shared, max(len(e.ids) for e in batch) - shared)
        extra: dict = {}
        if shared:
            # The prompts' own tokens attend to the prefix's cached keys and values as well.
            extra = {self._cache_arg: self._prefix_cache(batch[0].ids[:shared], len(batch)), "use_cache": True}
            mask_t = torch.cat([torch.ones_like(mask_t[:, :1]).expand(-1, shared), mask_t], dim=1)
        captured: dict[int, torch.Tensor] = {}
        handles = self._hooks(captured, sites_t) if want_hidden else []
        try:
            output = self.model(
                input_ids=ids_t, attention_mask=mask_t, position_ids=positions_t,
                **{"use_cache": False, **extra}, **self._head_kwargs,
            )
        finally:
            for handle in handles:
                handle.remove()
        # Normalise over the answer tokens only: the softmax denominator cancels, so
        # P(yes) = sigmoid(logsumexp(yes logits) - logsumexp(no logits)), in float32.
        p_yes = self._p_yes(output.logits[:, -1])
        # (batch, site, layer, hidden_size), still in the model's dtype: upcasting after the
        # copy moves half the bytes for bf16/fp16, and bf16 -> float32 is exact either way.
        # With a device map the layers ran on several devices: gather them where the logits are.
        hidden = (torch.stack([captured[layer].to(p_yes.device) for layer in self.layers], dim=2)
                  if want_hidden else None)
        return self._launch(p_yes, hidden)

    def _forward_compiled(self, batch: list[_Encoded]) -> _Pending:
        """The batch through the compiled graph, padded to a bucket's width and the full batch size.

        The padding rows repeat the last prompt (a row of padding alone would attend to
        nothing); their answers are dropped. Hidden states are always computed here: one graph
        per shape rather than two, and the states cost little next to the forward pass.
        """
        assert self.compiled is not None
        rows = len(batch)
        batch = batch + [batch[-1]] * (max(self.batch_size, rows) - rows)
        ids_t, mask_t, positions_t, sites_t = self._layout(batch, 0, bucket_width(max(len(e.ids) for e in batch)))
        self.compiled_shapes.add((ids_t.shape[0], ids_t.shape[1]))
        p_yes, hidden = self.compiled(ids_t, mask_t, positions_t, sites_t)
        return self._launch(p_yes[:rows], hidden[:rows])

    def _answer_graph(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, sites: torch.Tensor):
        """P(yes) and the hidden states at the sites, as one function for torch.compile.

        The hidden states come from ``output_hidden_states`` (hooks do not compile); the
        compiler keeps only the gathered sites of the layers asked for.
        """
        output = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                            output_hidden_states=True, **self._head_kwargs)
        rows = torch.arange(ids.shape[0], device=ids.device)[:, None]
        hidden = torch.stack([output.hidden_states[layer][rows, sites] for layer in self.layers], dim=2)
        return self._p_yes(output.logits[:, -1]), hidden

    def _p_yes(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        return torch.sigmoid(logits[:, self.yes_ids].logsumexp(-1) - logits[:, self.no_ids].logsumexp(-1))

    def _layout(self, batch: list[_Encoded], shared: int, width: int) -> tuple[torch.Tensor, ...]:
        """Token ids, attention mask, position ids and the two read-out sites of ``batch``, left
        padded to ``width`` columns, without the first ``shared`` tokens of every prompt."""
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        sites = np.empty((len(batch), len(SITES)), dtype=np.int64)
        for row, enc in enumerate(batch):
            # Left padding puts every prompt's last token in the last column, so one index
            # serves the LM head for the whole batch.
            pad = width - (len(enc.ids) - shared)
            ids[row, pad:] = enc.ids[shared:]
            mask[row, pad:] = 1
            sites[row] = width - 1, pad + enc.statement_index - shared
        # Position ids must count real tokens only: with the default arange, a left-padded
        # prompt's first token would sit at position `pad` and rotary embeddings would give it
        # different numbers than the same prompt alone.
        positions = shared + (mask.cumsum(-1) - 1).clip(min=0)
        return tuple(torch.from_numpy(a).to(self.device) for a in (ids, mask, positions, sites))

    def _shared_prefix(self, batch: list[_Encoded]) -> int:
        """How many leading tokens every prompt of ``batch`` shares (0: too few to share).

        Every prompt keeps at least its last token and its statement's last token, where the
        answer and the hidden states are read.
        """
        if not self.share_prefix or len(batch) < 2:
            return 0
        first = batch[0].ids
        shared = min(min(len(e.ids) - 1, e.statement_index) for e in batch)
        for enc in batch[1:]:
            shared = next((i for i in range(shared) if enc.ids[i] != first[i]), shared)
        return shared if shared >= MIN_SHARED_PREFIX else 0

    def _prefix_cache(self, prefix: list[int], rows: int):
        """The keys and values of ``prefix`` at every block, repeated for ``rows`` prompts."""
        output = self.model.base_model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True)
        cache = getattr(output, self._cache_arg)  # type: ignore[arg-type]
        cache.batch_repeat_interleave(rows)
        return cache

    def _launch(self, p_yes: torch.Tensor, hidden: torch.Tensor | None) -> _Pending:
        if p_yes.device.type != "cuda":
            return _Pending(p_yes, hidden, None)
        # Two sets of page-locked buffers, used in turn: batch k+1 is copied into one while
        # batch k is still being read out of the other (see answer).
        slot = self._launches % 2
        self._launches += 1
        host_p_yes = self._stage(p_yes, (slot, "p_yes"))
        host_hidden = self._stage(hidden, (slot, "hidden")) if hidden is not None else None
        ready = torch.cuda.Event()
        ready.record()
        return _Pending(host_p_yes, host_hidden, ready)

    def _stage(self, tensor: torch.Tensor, key: tuple[int, str]) -> torch.Tensor:
        """Start copying a GPU ``tensor`` into the reused page-locked buffer ``key``.

        On an H200, a 50 MB copy into fresh pageable memory took 40 ms and into page-locked
        memory 1 ms; at batch size 1024 the former float32 pageable copy (80 ms) was about a
        sixth of the batch's time.
        """
        size = tensor.numel()
        buffer = self._pinned.get(key)
        if buffer is None or buffer.numel() < size or buffer.dtype != tensor.dtype:
            buffer = self._pinned[key] = torch.empty(size, dtype=tensor.dtype, pin_memory=True)
        host = buffer[:size].view(tensor.shape)
        host.copy_(tensor, non_blocking=True)
        return host

    def _hooks(self, captured: dict[int, torch.Tensor], sites: torch.Tensor) -> list:
        rows = torch.arange(sites.shape[0], device=sites.device)[:, None]

        def keep(layer: int, states: torch.Tensor) -> None:
            captured[layer] = states[rows, sites]  # (batch, site, hidden_size): two positions only

        handles = []
        for layer in self.layers:
            if layer == 0:
                # The first block's input is the embeddings after any model-specific scaling
                # or position embeddings: what output_hidden_states calls layer 0.
                def pre_hook(module, args, kwargs, layer=layer):
                    keep(layer, args[0] if args else kwargs["hidden_states"])

                handles.append(self._blocks[0].register_forward_pre_hook(pre_hook, with_kwargs=True))
            elif layer == len(self._blocks):
                # The base model's output is the last block's output after the final norm.
                def base_hook(module, args, output, layer=layer):
                    keep(layer, output[0])

                handles.append(self.model.base_model.register_forward_hook(base_hook))
            else:
                def block_hook(module, args, output, layer=layer):
                    keep(layer, output[0] if isinstance(output, tuple) else output)

                handles.append(self._blocks[layer - 1].register_forward_hook(block_hook))
        return handles


def bucket_width(tokens: int) -> int:
    """The padded width of a batch whose longest prompt has ``tokens`` tokens (see LENGTH_BUCKETS)."""
    fits = next((width for width in LENGTH_BUCKETS if width >= tokens), None)
    step = LENGTH_BUCKETS[-1]
    return fits if fits is not None else -(-tokens // step) * step


def _compile(function: Callable, backend: str | Callable) -> Callable:
    """``function`` compiled for fixed shapes, with room for one graph per length bucket."""
    import torch._dynamo

    # Each (batch size, bucket) is its own graph; past dynamo's recompile limit (8 by default)
    # it would silently fall back to the uncompiled forward. Auto batch sizes can halve a few
    # times on out-of-memory, so room for three batch sizes per bucket.
    limit = 3 * len(LENGTH_BUCKETS)
    for name in ("recompile_limit", "cache_size_limit"):  # renamed in torch 2.6
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), limit))
    return torch.compile(function, backend=backend, dynamic=False)


def _fit_threads() -> None:
    """At most one torch thread per core this process may run on.

    torch sizes its pool from the machine's cores; a container or a CPU affinity mask may
    give the process fewer, and more threads than cores spin and wait on each other (the
    forward pass then slows several-fold).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if torch.get_num_threads() > usable:
        torch.set_num_threads(usable)


# ----- loading ------------------------------------------------------------------------
def _resolve(path_or_id: str | Path) -> tuple[Path, Path | None]:
    """The model's directory, and its GGUF file when the model is one (a ``.gguf`` path, or a
    directory holding a single ``.gguf`` and no ``config.json``)."""
    path = Path(path_or_id).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path
    if path.is_dir():
        found = sorted(p for p in path.glob("*.gguf") if p.is_file())
        if (path / "config.json").exists() or not found:
            return path, None
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise AdapterError(f"{path} holds several GGUF files ({names}); name the one to audit")
        return path, found[0]
    text = str(path_or_id)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise AdapterError(f"no model directory or .gguf file at {text}")
    from huggingface_hub import snapshot_download

    try:
        # local_files_only: an audit never downloads; a hub id must be cached already.
        return Path(snapshot_download(text, local_files_only=True)), None
    except Exception as error:  # LocalEntryNotFoundError, HFValidationError, OSError
        raise AdapterError(
            f"{text} is neither a model directory nor a hub id in the local cache ({type(error).__name__})"
        ) from None


def _require_gguf_extra(gguf: Path) -> None:
    """transformers reads GGUF through the ``gguf`` package and loads it with ``accelerate``."""
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise AdapterError(
            f"{gguf.name} is a GGUF model, which needs the 'gguf' extra (missing: {', '.join(missing)}); "
            "install it with: pip install 'consistency[gguf]'"
        )


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise AdapterError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise AdapterError("device 'cuda' was asked for but torch sees no CUDA device")
    return name


def _chat(mode: str, tokenizer, name: str) -> bool:
    """Whether questions go through the chat template: ``auto`` when the tokenizer has one."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if mode == "auto":
        return has_template
    if mode not in ("on", "off"):
        raise AdapterError(f"chat must be 'auto', 'on' or 'off', got {mode!r}")
    if mode == "on" and not has_template:
        raise AdapterError(f"--chat on: the tokenizer of {name} has no chat template")
    return mode == "on"


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        if device.type == "cpu":
            return torch.float32  # CPU bf16 matmuls are slow on most chips and less exact
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in DTYPES:
        raise AdapterError(f"dtype must be one of auto, {', '.join(DTYPES)}; got {name!r}")
    return DTYPES[name]


def _load_config(directory: Path, trust_remote_code: bool, gguf: Path | None = None):
    from transformers import CONFIG_MAPPING, MODEL_FOR_CAUSAL_LM_MAPPING, AutoConfig

    if gguf is not None:
        _require_gguf_extra(gguf)
        try:
            config = AutoConfig.from_pretrained(directory, gguf_file=gguf.name, local_files_only=True)
        except Exception as error:  # an architecture transformers cannot read from GGUF, a broken file
            raise AdapterError(f"cannot read the GGUF model {gguf}: {_first_line(error)}") from None
        if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
            raise AdapterError(f"{gguf} is not a causal language model ({type(config).__name__})")
        return config
    config_path = directory / "config.json"
    try:
        raw = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise AdapterError(f"no config.json in {directory}: not a transformers model directory") from None
    except (OSError, ValueError) as error:
        raise AdapterError(f"unreadable {config_path}: {error}") from None
    except RecursionError:
        raise AdapterError(f"unreadable {config_path}: JSON nested too deeply") from None
    if not isinstance(raw, dict):
        raise AdapterError(f"{config_path}: must hold a JSON object, got {type(raw).__name__}")
    model_type = raw.get("model_type")
    if model_type not in CONFIG_MAPPING and not trust_remote_code:
        raise AdapterError(
            f"{directory} needs remote code (model_type {model_type!r} is not built into transformers); "
            "pass --trust-remote-code only if you trust its author"
        )
    try:
        config = AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code, local_files_only=True)
    except Exception as error:  # transformers raises ValueError, OSError, KeyError...
        raise AdapterError(f"cannot read the config in {directory}: {_first_line(error)}") from None
    remote_lm = "AutoModelForCausalLM" in (raw.get("auto_map") or {}) and trust_remote_code
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING and not remote_lm:
        raise AdapterError(f"{directory} is not a causal language model ({type(config).__name__})")
    return config


def _load_tokenizer(directory: Path, trust_remote_code: bool, gguf: Path | None = None):
    from transformers import AutoTokenizer

    where = {"gguf_file": gguf.name} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            directory, trust_remote_code=trust_remote_code, local_files_only=True, **where
        )
    except Exception as error:
        raise AdapterError(f"cannot load the tokenizer in {directory}: {_first_line(error)}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise AdapterError(f"the tokenizer in {directory} is not a fast tokenizer (character offsets are needed)")
    return tokenizer


def _check_placement(device_map, max_memory, load_in) -> None:
    """One clear line for a placement that cannot work, before anything loads."""
    if isinstance(device_map, str) and device_map not in DEVICE_MAPS:
        raise AdapterError(f"device map must be one of {', '.join(DEVICE_MAPS)} (or a module -> device mapping), got {device_map!r}")
    if max_memory is not None and device_map is None:
        raise AdapterError("max memory only applies with a device map (--device-map auto)")
    if (device_map is not None or load_in is not None) and importlib.util.find_spec("accelerate") is None:
        raise AdapterError("--device-map and --load-in need accelerate: pip install 'consistency[scale]'")
    if load_in is None:
        return
    if load_in not in ("8bit", "4bit"):
        raise AdapterError(f"load in must be '8bit' or '4bit', got {load_in!r}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise AdapterError(f"--load-in {load_in} needs bitsandbytes: pip install 'consistency[scale]' bitsandbytes")
    if not torch.cuda.is_available():
        raise AdapterError(f"--load-in {load_in} needs a CUDA device (bitsandbytes quantises on the GPU); torch sees none")


def _quantisation(load_in: LoadIn | None) -> dict:
    if load_in is None:
        return {}
    from transformers import BitsAndBytesConfig

    if load_in == "8bit":
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)}


def _input_device(model) -> torch.device:
    """Where a dispatched model's inputs go: the embeddings' device (the CPU when they were
    offloaded to disk, whose weights then sit on the meta device until used)."""
    device = model.get_input_embeddings().weight.device
    return torch.device("cpu") if device.type == "meta" else device


def _load_model(directory: Path, config, dtype: torch.dtype, trust_remote_code: bool, gguf: Path | None = None,
                placement: dict | None = None):
    from transformers import AutoModelForCausalLM

    placement = placement or {}
    if gguf is not None:
        try:
            # transformers dequantises the GGUF tensors to ``dtype``; no code from the file runs.
            return AutoModelForCausalLM.from_pretrained(
                directory, gguf_file=gguf.name, config=config, dtype=dtype, local_files_only=True, **placement
            )
        except Exception as error:
            raise AdapterError(f"cannot load the GGUF model {gguf}: {_first_line(error)}") from None
    files = [p.name for p in directory.iterdir()]
    safetensors = any(name.endswith(".safetensors") for name in files)
    if not safetensors and not any(name.endswith(".bin") for name in files):
        raise AdapterError(f"no weights in {directory} (looked for *.safetensors and *.bin)")
    try:
        return AutoModelForCausalLM.from_pretrained(
            directory,
            config=config,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            local_files_only=True,
            # safetensors whenever present; otherwise pickle, but unpickled weights-only
            # (tensors and plain containers, no arbitrary objects, so no code runs).
            use_safetensors=safetensors,
            weights_only=True,
            **placement,
        )
    except pickle.UnpicklingError:
        raise AdapterError(
            f"refusing to load the pickle weights in {directory}: they hold more than tensors "
            "(weights-only loading failed); convert them to safetensors"
        ) from None
    except Exception as error:
        raise AdapterError(f"cannot load the model in {directory}: {_first_line(error)}") from None


def _decoder_blocks(model, config) -> torch.nn.ModuleList:
    """The model's stack of decoder blocks: the ModuleList with one entry per hidden layer."""
    n_layers = getattr(config, "num_hidden_layers", None)
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return module
    raise AdapterError(f"cannot find the {n_layers} decoder blocks of {type(model).__name__}")


def _choose_layers(layers: Literal["auto"] | Sequence[int], n_blocks: int) -> tuple[int, ...]:
    if layers == "auto":
        if n_blocks <= AUTO_ALL_BLOCKS:
            return tuple(range(n_blocks + 1))
        return tuple(sorted({round(x) for x in np.linspace(0, n_blocks, AUTO_LAYER_COUNT)}))
    chosen = sorted({int(layer) for layer in layers})
    bad = [layer for layer in chosen if not 0 <= layer <= n_blocks]
    if bad or not chosen:
        raise AdapterError(f"layers must be within 0..{n_blocks} for this model, got {list(layers)}")
    return tuple(chosen)


# How a tokenizer family marks a word that follows a space: byte-level BPE (GPT-2, Llama 3,
# SmolLM) writes "Ġ", SentencePiece (Llama 2, Mistral, Gemma) writes "▁", and a few vocabularies
# hold a literal space. Word-level vocabularies have the bare word only.
SPACE_MARKERS = ("Ġ", "▁", " ")


def _answer_ids(tokenizer, words: Sequence[str], which: str, name: str) -> list[int]:
    """Token ids that spell one answer word on their own, in every form the model may emit it.

    After "Answer:" most tokenizers emit " Yes" (a space-marked token); after a newline, and so
    right after a chat template's opened assistant turn, they emit the bare "Yes". Both forms
    count. They are found by encoding the word with and without a space, and by looking the
    space-marked forms up in the vocabulary (SentencePiece's encode adds a "▁" of its own, so
    the bare piece is only found there), keeping a token only if it decodes to the word.
    """
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    tried: list[str] = []
    ids: list[int] = []

    def keep(token_id: int | None) -> None:
        if token_id is None or token_id in special or token_id in ids or token_id == tokenizer.unk_token_id:
            return
        if tokenizer.decode([token_id]).strip() == word:
            ids.append(token_id)

    for word in words:
        for candidate in (word, " " + word):
            tried.append(candidate)
            encoded = tokenizer.encode(candidate, add_special_tokens=False)
            if len(encoded) == 1:
                keep(encoded[0])
        for marked in (word, *(marker + word for marker in SPACE_MARKERS)):
            keep(vocab.get(marked))
    if not ids:
        raise AdapterError(
            f"the tokenizer of {name} has no single-token answer word for {which!r} "
            f"(tried {', '.join(map(repr, tried))}); pass answer words it encodes as one token"
        )
    return ids


def _accepts(model, argument: str) -> bool:
    return argument in inspect.signature(model.forward).parameters


def _is_oom(error: RuntimeError) -> bool:
    text = str(error)
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ----- fingerprint --------------------------------------------------------------------
def _fingerprint(directory: Path, settings: dict) -> str:
    """A digest of every file in the model directory (weights, config, tokenizer, chat
    template) and of the settings that change the numbers (answer words, dtype, layers)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(path.name.encode() + b"\0" + _file_digest(path).encode() + b"\0")
    return _settings_digest(digest.hexdigest(), settings)


def _settings_digest(weights: str, settings: dict) -> str:
    digest = hashlib.sha256(weights.encode() + b"\0")
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return "hf-" + digest.hexdigest()[:32]


def _sha256(path: Path) -> str:
    full = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            full.update(block)
    return full.hexdigest()


def _file_digest(path: Path) -> str:
    stat = path.stat()
    if stat.st_size <= FULL_HASH_LIMIT or not path.name.endswith(WEIGHT_SUFFIXES):
        return _sha256(path)
    with path.open("rb") as handle:
        head = handle.read(_BLOCK)
        handle.seek(-_BLOCK, 2)
        tail = handle.read(_BLOCK)
    ends = hashlib.sha256(head + tail).hexdigest()
    return f"size={stat.st_size};mtime={stat.st_mtime_ns};ends={ends}"
