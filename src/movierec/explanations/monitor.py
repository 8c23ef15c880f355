"""What explanations cost and how they fare, per worker: counters for BentoML's Prometheus ``/metrics`` and a
report of today's figures (UTC) for the JSON endpoint."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone

import numpy as np

FALLBACKS = ("timeout", "provider_error", "rejected", "busy")


def _prometheus():
    """BentoML's metrics (they reach ``/metrics`` from every worker), or None outside a service."""
    try:
        import bentoml

        return (bentoml.metrics.Counter(name="movierec_explanations", documentation="explanations by outcome",
                                        labelnames=["provider", "outcome"]),
                bentoml.metrics.Counter(name="movierec_explanation_tokens", documentation="tokens by direction",
                                        labelnames=["provider", "direction"]),
                bentoml.metrics.Histogram(name="movierec_explanation_seconds", documentation="generation time",
                                          labelnames=["provider"], buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 4, 8)))  # fmt: skip
    except Exception:  # noqa: BLE001 - metrics are a convenience, never a reason to fail
        return None


class Monitor:
    """``price_in`` / ``price_out``: what 1,000 tokens cost (0 for a local model)."""

    def __init__(self, provider: str, model: str, price_in: float = 0.0, price_out: float = 0.0, prometheus: bool = True):
        self.provider, self.model, self.price_in, self.price_out = provider, model, price_in, price_out
        self._lock = threading.Lock()
        self._day = ""
        self._reset()
        self._prom = _prometheus() if prometheus else None

    def _reset(self) -> None:
        self.counts: Counter = Counter()  # generated, hit, miss, fallback:<reason>, rejected:<reason>
        self.latencies_ms: list[float] = []
        self.tokens_in = self.tokens_out = 0

    def _today(self) -> None:
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        if day != self._day:
            self._day = day
            self._reset()

    def _count(self, outcome: str, n: int = 1) -> None:
        with self._lock:
            self._today()
            self.counts[outcome] += n
        if self._prom is not None and n:
            self._prom[0].labels(provider=self.provider, outcome=outcome.split(":")[0]).inc(n)

    def hits(self, n: int) -> None:
        self._count("hit", n)

    def misses(self, n: int) -> None:
        self._count("miss", n)

    def fallback(self, reason: str, n: int = 1) -> None:
        self._count(f"fallback:{reason}", n)

    def rejected(self, reason: str) -> None:
        self._count(f"rejected:{reason}")

    def generated(self, seconds: float, tokens_in: int, tokens_out: int) -> None:
        with self._lock:
            self._today()
            self.counts["generated"] += 1
            self.latencies_ms.append(seconds * 1000)
            self.latencies_ms = self.latencies_ms[-10_000:]
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out
        if self._prom is not None:
            self._prom[0].labels(provider=self.provider, outcome="generated").inc()
            self._prom[1].labels(provider=self.provider, direction="in").inc(tokens_in)
            self._prom[1].labels(provider=self.provider, direction="out").inc(tokens_out)
            self._prom[2].labels(provider=self.provider).observe(seconds)

    def report(self) -> dict:
        """Today's figures (UTC, this worker): counts, hit rate, latency, tokens, spend and the month it projects."""
        with self._lock:
            self._today()
            c, lat = dict(self.counts), np.array(self.latencies_ms)
            tokens_in, tokens_out = self.tokens_in, self.tokens_out
        looked = c.get("hit", 0) + c.get("miss", 0)
        spend = tokens_in / 1000 * self.price_in + tokens_out / 1000 * self.price_out
        now = datetime.now(timezone.utc)
        day_share = max((now.hour * 3600 + now.minute * 60 + now.second) / 86_400, 1 / 1440)
        return {"provider": self.provider, "model": self.model, "day": self._day, "generated": c.get("generated", 0),
                "cache_hits": c.get("hit", 0), "cache_misses": c.get("miss", 0),
                "hit_rate": round(c.get("hit", 0) / looked, 4) if looked else None,
                "fallbacks": {r: c.get(f"fallback:{r}", 0) for r in FALLBACKS},
                "rejected": {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("rejected:")},
                "mean_latency_ms": round(float(lat.mean()), 1) if len(lat) else None,
                "p95_latency_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
                "tokens_in": tokens_in, "tokens_out": tokens_out, "spend": round(spend, 6),
                "projected_monthly_cost": round(spend / day_share * 30, 4)}  # fmt: skip


def elapsed_ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
