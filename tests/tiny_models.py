"""Tiny real checkpoints for tests: a Llama-shaped causal LM and a tokenizer built on the spot.

Nothing is downloaded and no Hugging Face cache is touched: the tokenizer is a byte-level BPE
trained in milliseconds on a few sentences (so it has the leading-space tokens, " Yes" vs
"Yes", and a BOS token with an empty character span, like real Llama tokenizers), the model is
randomly initialised from a seed, and both are written with ``save_pretrained`` to a directory
the caller owns (a pytest ``tmp_path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")

# Sentences in the shape the default framings produce, so that common words, " Yes" and " No"
# become single tokens while rarer words stay split into several (what answer-word lookup must
# cope with).
DEFAULT_CORPUS = (
    "Question: Is it true that Paris is the capital of France?\nAnswer: Yes",
    "Question: Is it false that the sky is green?\nAnswer: Yes",
    "True or false: water boils at 100 degrees. Is this statement true?\nAnswer: No",
    "Question: Is it true that two plus two is five?\nAnswer: No",
    "Suppose that cats are mammals. Is it true that cats have fur?\nAnswer: Yes",
)


def build_tokenizer(path: str | Path, corpus: Iterable[str] = DEFAULT_CORPUS, vocab_size: int = 400):
    """Train a byte-level BPE on ``corpus``, save it to ``path`` as a fast HF tokenizer, return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Repeating the corpus makes the frequent pairs win every merge deterministically.
    tokenizer.train_from_iterator(list(corpus) * 5, trainer)
    bos = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    fast.save_pretrained(str(path))
    return fast


def build_tiny_llama(
    path: str | Path,
    *,
    hidden_size: int = 32,
    n_layers: int = 3,
    n_heads: int = 4,
    n_kv_heads: int = 2,
    intermediate_size: int = 64,
    vocab_size: int | None = None,
    corpus: Iterable[str] = DEFAULT_CORPUS,
    tokenizer_vocab_size: int = 400,
    seed: int = 0,
    safe_serialization: bool = True,
) -> Path:
    """Write a random-init ``LlamaForCausalLM`` and its tokenizer to ``path``; return the path.

    ``vocab_size`` defaults to the tokenizer's size; a larger one mimics real checkpoints whose
    embedding table is padded past the tokenizer. ``safe_serialization=False`` writes pickle
    (``pytorch_model.bin``) weights instead of safetensors.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer(path, corpus, tokenizer_vocab_size)
    config = LlamaConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # The default init (0.02) gives every prompt nearly the same next-token distribution;
        # a larger one makes outputs depend on the context, so P(yes) spreads over (0, 1) and a
        # batching bug (a wrong position, a padding leak) cannot hide behind P(yes) ~ 0.54.
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if safe_serialization:
        model.save_pretrained(str(path))
    else:
        # transformers 5 always writes safetensors; write the legacy pickle layout by hand.
        config.save_pretrained(str(path))
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    return path
