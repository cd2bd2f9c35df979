"""Property tests that keep a checkpoint consistent: copy this file into your tests/.

    pip install consistency            # brings the pytest plugin and hypothesis
    pytest tests/test_model_consistency.py --consistency-model path/to/checkpoint

Hypothesis draws a few related claims at a time (negation pairs, paraphrase sets, and/or
tuples, implication chains, conditionals, decompositions) from the claim pool, the model
answers them, and the checks look for contradictions. A failure shrinks to the smallest
structure the model contradicts itself on, and the message shows its answers and the
certificate (the phrasings that disagree, the answers that cannot all hold, the Dutch book).

The pool is asked once per session, in one batched pass; every example reads from memory.
Settings (command line, ini file or environment):
  --consistency-model   a checkpoint directory, organism:<kind>, or package.module:factory
  --consistency-suite   numbers (default), builtin:<suite>, or your suite .jsonl file
  CONSISTENCY_EXAMPLES  examples per property (default 200)
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consistency.testing import assert_consistent, claims

EXAMPLES = int(os.environ.get("CONSISTENCY_EXAMPLES", "200"))

# derandomize: the same examples every run, so CI is reproducible and a failure is not a
# matter of luck. deadline=None: the first example waits for the model to answer the pool.
AUDIT = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# Tolerances. max_r1: how far (L1) the credences in one web of related claims may be from
# coherent; max_flip_rate: the share of claims whose answer may flip with the phrasing.
MAX_R1 = 0.1
MAX_FLIP_RATE = 0.0


@pytest.mark.consistency_audit
@AUDIT
@given(data=st.data())
def test_answers_are_consistent(consistency_model, consistency_pool, data):
    drawn = data.draw(claims(consistency_pool, max_size=3), label="claims")
    assert_consistent(consistency_model, drawn, max_r1=MAX_R1, max_flip_rate=MAX_FLIP_RATE)


@pytest.mark.consistency_audit
@AUDIT
@given(data=st.data())
def test_logic_holds_across_related_claims(consistency_model, consistency_pool, data):
    # Only the structures with logical relations, judged by logic alone: a model may be
    # unsure how to phrase something and still never contradict itself.
    kinds = ["negation", "and", "or", "implication", "exclusivity", "conditional", "relation"]
    if not consistency_pool.indices(kinds):
        pytest.skip("the claim pool has no logically related claims")
    drawn = data.draw(claims(consistency_pool, kinds=kinds, max_size=3), label="claims")
    assert_consistent(consistency_model, drawn, checks=["logic"], max_r1=MAX_R1)
