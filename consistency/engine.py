"""The elicitation engine: every unique prompt answered once, then packed into Answers."""

from __future__ import annotations

from typing import Iterable

from consistency.adapters.base import Adapter, Prompt
from consistency.answers import Answers
from consistency.suite import Query


def unique_prompts(queries: Iterable[Query], hidden_for: Iterable[Query] = ()) -> list[Prompt]:
    """Deduplicate by prompt text; a prompt wants hidden states if any query for it does."""
    wants_hidden = {q.prompt for q in hidden_for}
    prompts: dict[str, Prompt] = {}
    for query in [*queries, *hidden_for]:
        if query.prompt not in prompts:
            prompts[query.prompt] = Prompt(query.prompt, query.statement_end, query.prompt in wants_hidden)
    return list(prompts.values())


def elicit(adapter: Adapter, queries: Iterable[Query], hidden_for: Iterable[Query] = ()) -> Answers:
    """Ask ``adapter`` every distinct prompt of ``queries`` (hidden states for ``hidden_for``)."""
    prompts = unique_prompts(queries, hidden_for)
    results = adapter.answer(prompts)
    answers = Answers(layers=tuple(adapter.layers), source=adapter.fingerprint)
    for prompt, result in zip(prompts, results):
        answers.credences[prompt.text] = result.p_yes
        for site, states in result.hidden.items():
            answers.hidden.setdefault(site, {})[prompt.text] = states
    return answers
