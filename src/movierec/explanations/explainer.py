"""Explanations written by a language model, within a latency budget, cached, checked and counted.

A request's explained items arrive with their template text and context. :meth:`Explainer.explain` serves the
cached model texts, starts the missing ones on a thread pool (the provider's own parallelism), and waits for
them at most until the budget is spent (none by default: the list answers at once); each finished text passes
the grounding guard or is replaced by the template. An item whose text is still being written keeps the
template and carries ``explanation_key``: :meth:`Explainer.wait` answers that key with the text once it is
written (the web page asks for each, and shows it when it comes), and the text is cached for the next request.
Nothing here raises into the request: a provider's failure is a fallback, counted by reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from movierec.explanations import guard, prompt
from movierec.explanations.context import CONTEXT, Context
from movierec.explanations.monitor import Monitor, elapsed_ms
from movierec.explanations.providers import ProviderError

MAX_WAITING = 64  # generations queued at most; past that a miss keeps its template ("busy")


class TextCache:
    """What the explainer needs of a cache: many reads at once, one write with its TTL (see ``Store``)."""

    def texts_get(self, keys: list[str]) -> list[str | None]: ...  # pragma: no cover

    def text_set(self, key: str, text: str, ttl: float) -> None: ...  # pragma: no cover


class Explainer:
    def __init__(self, provider, cache: TextCache, monitor: Monitor, all_genres: set[str], model_version: str,
                 budget_s: float = 0.0, ttl_s: float = 7 * 86_400):  # fmt: skip
        self.provider, self.cache, self.monitor, self.all_genres = provider, cache, monitor, all_genres
        self.model_version, self.budget_s, self.ttl_s = model_version, budget_s, ttl_s
        self.source = "template" if provider is None else "llm"
        self._pool = ThreadPoolExecutor(max_workers=getattr(provider, "parallel", 1), thread_name_prefix="explain")
        self._running: dict[str, Future] = {}  # key -> its generation, so that one text is generated once
        if provider is not None:
            guard.warm()
        self._lock = threading.Lock()

    def key(self, ctx: Context) -> str:
        """Provider, model, prompt version, recommender version, movie and everything the text may say."""
        parts = f"{self.provider.name}:{self.provider.model}:{prompt.PROMPT_VERSION}:{self.model_version}"
        return f"movierec:explain:{hashlib.sha1(parts.encode()).hexdigest()[:12]}:{ctx.title}:{ctx.digest()}"

    async def explain(self, items: list[dict]) -> bool:
        """Put model texts into ``items`` where they are ready within the budget (``explanation_source`` and
        ``explanation_ms`` say which and how long); take every context out. True when some text was not ready
        in time (the answer is then worth computing again rather than caching)."""
        start = time.perf_counter()
        todo = [(m, m.pop(CONTEXT)) for m in items if CONTEXT in m]
        if self.provider is None or not todo:
            return False
        todo = [(m, ctx) for m, ctx in todo if ctx.anchors]  # nothing to ground a text on: the template
        keys = [self.key(ctx) for _, ctx in todo]
        cached = self.cache.texts_get(keys) if keys else []
        waiting: dict[asyncio.Future, dict] = {}
        keys_of: dict[int, str] = {}
        hits = 0
        for (m, ctx), key, text in zip(todo, keys, cached):
            if text is not None:
                hits += 1
                if text:  # "": the model's text for this context was rejected; the template stands
                    m.update(explanation=text, explanation_source="llm")
                m["explanation_ms"] = elapsed_ms(start)
                continue
            future = self._start(ctx, key)
            if future is None:
                self.monitor.fallback("busy")
                continue
            waiting[asyncio.wrap_future(future)] = m
            keys_of[id(m)] = key
        self.monitor.hits(hits)
        self.monitor.misses(len(todo) - hits)
        if not waiting:
            return False
        left = max(self.budget_s - (time.perf_counter() - start), 0)
        done, late = await asyncio.wait(waiting, timeout=left) if left > 0 else (set(), set(waiting))
        for future in done:
            text = future.result()
            if text is not None:
                waiting[future].update(explanation=text, explanation_source="llm", explanation_ms=elapsed_ms(start))
        for future in late:
            self.monitor.fallback("timeout")
            waiting[future]["explanation_ms"] = elapsed_ms(start)
            waiting[future]["explanation_key"] = keys_of[id(waiting[future])]
        return bool(late)

    async def wait(self, key: str, timeout_s: float) -> str | None:
        """The model's text for ``key`` (an item's ``explanation_key``) once written and accepted, waiting at
        most ``timeout_s``: ``""`` when the guard rejected it or the provider failed (the template stands),
        None when it is not written yet. Another worker's generation is found in the shared cache."""
        deadline = time.perf_counter() + timeout_s
        with self._lock:
            running = self._running.get(key)
        if running is not None:  # written here
            try:
                return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(running)), timeout_s) or ""
            except asyncio.TimeoutError:
                return None
        while True:  # written by another worker (or done already): it lands in the shared cache
            text = self.cache.texts_get([key])[0]
            if text is not None or time.perf_counter() >= deadline:
                return text
            await asyncio.sleep(0.1)

    def _start(self, ctx: Context, key: str) -> Future | None:
        with self._lock:
            running = self._running.get(key)
            if running is not None:
                return running
            if len(self._running) >= MAX_WAITING:
                return None
            future = self._pool.submit(self._generate, ctx, key)
            self._running[key] = future
        future.add_done_callback(lambda _: self._done(key))
        return future

    def _done(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)

    def _generate(self, ctx: Context, key: str) -> str | None:
        """One text, checked and cached; None (counted by reason) when there is none to use."""
        t = time.perf_counter()
        try:
            prefill = getattr(self.provider, "prefill", False)
            out = self.provider.generate(prompt.messages(ctx, prefill), prompt.grammar(ctx, prefill))
        except ProviderError:
            self.monitor.fallback("provider_error")
            return None
        except Exception:  # noqa: BLE001 - a provider's own failure must not fail the request
            self.monitor.fallback("provider_error")
            return None
        self.monitor.generated(time.perf_counter() - t, out.tokens_in, out.tokens_out)
        text = prompt.answer(ctx, out.text, prefill)
        reason = "unfinished" if prompt.cut_short(ctx, text) else guard.check(text, ctx, self.all_genres)
        if reason is not None:
            self.monitor.rejected(reason)
            self.monitor.fallback("rejected")
            # the same prompt would give the same text again (a fixed seed): remember the verdict, not the text
            self.cache.text_set(key, "", self.ttl_s)
            return None
        self.cache.text_set(key, text, self.ttl_s)
        return text

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
