"""The explainer against a real HTTP server on loopback that speaks the OpenAI chat-completions protocol,
scripted per test: every case answers within the budget, with the template where needed, and is counted."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from movierec.explanations.context import CONTEXT, template
from movierec.explanations.explainer import Explainer
from movierec.explanations.monitor import Monitor
from movierec.explanations.providers import OpenAIProvider
from movierec.serving.store import Store
from tests.explanations.test_guard import CTX, GENRES

BUDGET = 0.4
GOOD = "Because you rated Heat (1995) 5 stars and Ronin (1998) 4.5 stars, the town is a tense crime thriller for you."


def reply(text: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}],
                       "usage": {"prompt_tokens": 120, "completion_tokens": 30}}).encode()  # fmt: skip


SCRIPTS = {  # name -> (status, body, seconds before answering), or a function of the request that gives them;
    # body None: the connection is dropped
    "good": (200, reply(GOOD), 0),
    "invented_title": (200, reply("Because you rated Heat (1995) 5 stars, try it after Collateral (2004)."), 0),
    "wrong_stars": (200, reply("Because you rated Heat (1995) 3 stars, the town is a crime story for you."), 0),
    "slow": (200, reply(GOOD), 1.0),
    "server_error": (500, b'{"error": "boom"}', 0),
    "rate_limited": (429, b'{"error": {"message": "slow down"}}', 0),
    "malformed": (200, b'{"choices": [', 0),
    "no_choices": (200, b'{"choices": []}', 0),
    "dropped": (200, None, 0),
}


class Chat(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers.get("Authorization"), body))
        script = self.server.scripts[self.server.script]
        status, answer, delay = script(body) if callable(script) else script
        time.sleep(delay)
        if answer is None:
            self.connection.close()  # no status line at all
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def echo_chat(delay: float = 0.0) -> ThreadingHTTPServer:
    """A running chat server whose answer (script "echo") is the opening the prompt asks for plus a few words, after
    ``delay`` seconds: a grounded text for whatever context the prompt holds. ``shutdown()`` it when done."""

    def echo(body: dict):
        prompt = body["messages"][-1]["content"]
        start = prompt.rindex('starting with "') + len('starting with "')
        return 200, reply(prompt[start: prompt.rindex('"')] + " this one should suit you well."), delay

    server = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    server.requests, server.scripts, server.script = [], {**SCRIPTS, "echo": echo}, "echo"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def chat():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    server.requests, server.scripts = [], SCRIPTS
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def explainer(chat, script: str) -> Explainer:
    chat.script = script
    provider = OpenAIProvider(f"http://127.0.0.1:{chat.server_port}/v1", "test-model", api_key="k", timeout_s=5)
    return Explainer(provider, Store(None), Monitor("openai", "test-model", price_in=0.5, price_out=1.5, prometheus=False),
                     GENRES, "two_tower-test", budget_s=BUDGET)  # fmt: skip


def item() -> dict:
    return {"movie_id": 1, "title": CTX.title, "explanation": template(CTX), "explanation_source": "template", CONTEXT: CTX}


def run(ex: Explainer) -> tuple[dict, bool, float]:
    it = item()
    t = time.perf_counter()
    partial = asyncio.run(ex.explain([it]))
    return it, partial, time.perf_counter() - t


def test_a_good_answer_is_used_cached_and_costed(chat):
    ex = explainer(chat, "good")
    before = len(chat.requests)
    it, partial, took = run(ex)
    assert it["explanation"] == GOOD and it["explanation_source"] == "llm" and not partial and CONTEXT not in it
    assert took < BUDGET and it["explanation_ms"] >= 0
    path, auth, body = chat.requests[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer k" and body["model"] == "test-model"
    assert "Heat (1995) 5 stars" in body["messages"][-1]["content"]
    again, _, _ = run(ex)
    assert again["explanation"] == GOOD and len(chat.requests) == before + 1  # from the cache
    r = ex.monitor.report()
    assert (r["generated"], r["cache_hits"], r["cache_misses"], r["hit_rate"]) == (1, 1, 1, 0.5)
    assert (r["tokens_in"], r["tokens_out"]) == (120, 30) and r["spend"] == pytest.approx(120 / 1000 * 0.5 + 30 / 1000 * 1.5)


@pytest.mark.parametrize("script, reason", [("invented_title", "invented_title"), ("wrong_stars", "wrong_stars")])
def test_an_invented_fact_falls_back_to_the_template_and_is_counted(chat, script, reason):
    ex = explainer(chat, script)
    it, partial, took = run(ex)
    assert it["explanation"] == template(CTX) and it["explanation_source"] == "template" and took < BUDGET
    r = ex.monitor.report()
    assert r["rejected"] == {reason: 1} and r["fallbacks"]["rejected"] == 1 and r["generated"] == 1
    assert ex.cache.texts_get([ex.key(CTX)]) == [""]  # the verdict is cached, not the text
    asked = len(chat.requests)
    again, _, _ = run(ex)
    assert again["explanation"] == template(CTX) and len(chat.requests) == asked  # not generated again
    assert ex.monitor.report()["cache_hits"] == 1


@pytest.mark.parametrize("script", ["server_error", "rate_limited", "malformed", "no_choices", "dropped"])
def test_a_failing_provider_gives_the_template_within_the_budget(chat, script):
    ex = explainer(chat, script)
    it, partial, took = run(ex)
    assert it["explanation"] == template(CTX) and it["explanation_source"] == "template"
    assert took < BUDGET and not partial
    assert ex.monitor.report()["fallbacks"]["provider_error"] == 1


def test_an_answer_slower_than_the_budget_is_served_next_time(chat):
    ex = explainer(chat, "slow")
    it, partial, took = run(ex)
    assert it["explanation_source"] == "template" and partial and BUDGET <= took < BUDGET + 0.2
    assert ex.monitor.report()["fallbacks"]["timeout"] == 1
    deadline = time.monotonic() + 5
    while ex.cache.texts_get([ex.key(CTX)]) == [None] and time.monotonic() < deadline:
        time.sleep(0.05)  # it finishes in the background, and is cached
    later, partial, took = run(ex)
    assert later["explanation"] == GOOD and later["explanation_source"] == "llm" and not partial and took < 0.1


def test_the_template_provider_only_takes_the_contexts_out():
    ex = Explainer(None, Store(None), Monitor("template", "template", prometheus=False), GENRES, "v")
    it, partial, _ = run(ex)
    assert it["explanation"] == template(CTX) and it["explanation_source"] == "template" and CONTEXT not in it
    assert not partial and ex.monitor.report()["cache_misses"] == 0


@pytest.mark.parametrize("script, status", [("slow", "written"), ("invented_title", "template"), ("server_error", "template")])
def test_a_list_answers_at_once_and_each_text_is_asked_for_by_its_key(chat, script, status):
    """With no budget the list does not wait for the model: an item whose text is being written carries
    ``explanation_key``, and ``wait`` gives the text once written ("" when it was not usable)."""
    ex = explainer(chat, script)
    ex.budget_s = 0
    it, partial, took = run(ex)
    assert partial and took < 0.2 and it["explanation"] == template(CTX) and it["explanation_source"] == "template"
    key = it["explanation_key"]
    if script == "slow":
        assert asyncio.run(ex.wait(key, 0.05)) is None  # not written yet: ask again
    text = asyncio.run(ex.wait(key, 5))
    assert text == (GOOD if status == "written" else "")
    # the text (or the verdict) is in the cache: a second worker, with no generation of its own, finds it there
    other = Explainer(ex.provider, ex.cache, ex.monitor, GENRES, "two_tower-test")
    assert asyncio.run(other.wait(key, 1)) == (GOOD if status == "written" else ("" if script == "invented_title" else None))
    assert asyncio.run(other.wait("movierec:explain:000000000000:nothing:0000000000000000", 0.2)) is None
