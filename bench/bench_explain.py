"""Benchmark: explanations written by the local model (llama.cpp, SmolLM2-135M-Instruct) through the explainer.

    python bench/bench_explain.py        # after dvc repro and make setup (reads models/, data/)

1. Cold: 200 explained recommendations (the demo profiles' top 10, then sampled users' top 10), one request
   (list) at a time, each within the latency budget: latency per explanation (generation) and per request,
   requests over budget, texts the grounding guard rejected (by reason).
2. Replay: requests by users drawn by a Zipf law (exponent 1.1 over 60 users, the 20 above first), one after
   another, as a stream of realistic traffic meets the explanation cache: its hit rate, requests over budget.

Prints a table and writes bench/results/explain.json, with ten explanations, model-written beside the template.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="the project whose outputs to read")
    ap.add_argument("--lists", type=int, default=20, help="lists of 10 in the cold phase")
    ap.add_argument("--replay", type=int, default=400, help="requests in the replay")
    ap.add_argument("--population", type=int, default=60, help="users the replay draws from")
    ap.add_argument("--budget-ms", type=float, default=1500)
    ap.add_argument("--parallel", type=int, default=int(os.environ.get("MOVIEREC_LLM_PARALLEL", 1)))
    ap.add_argument("--out", default=str(HERE / "results" / "explain.json"))
    args = ap.parse_args()
    from movierec.explanations.context import CONTEXT
    from movierec.explanations.explainer import Explainer
    from movierec.explanations.monitor import Monitor
    from movierec.explanations.providers import LocalProvider
    from movierec.serving.recommender import Paths, Recommender
    from movierec.serving.store import Store

    rec = Recommender(Paths.under(args.root))
    provider = LocalProvider(parallel=args.parallel)
    budget = args.budget_ms / 1000
    ex = Explainer(provider, Store(None), Monitor("local", provider.model, prometheus=False), set(rec.genres),
                   rec.version, budget_s=budget)  # fmt: skip
    counts = np.diff(rec.bundle.indptr)
    rng = np.random.default_rng(0)
    demo = [rec.user_idx[p["user_id"]] for p in rec.profiles.values()]
    others = rng.permutation(np.setdiff1d(np.flatnonzero(counts >= 20), demo))
    users = [*demo, *others][: max(args.population, args.lists)]
    user_id_of = {i: u for u, i in rec.user_idx.items()}
    ids = [int(user_id_of[u]) for u in users]

    def request(user_id: int) -> tuple[list[dict], float]:
        items = rec.for_user(user_id, 10, explain=True)["items"]
        t = time.perf_counter()
        asyncio.run(ex.explain(items))
        return items, time.perf_counter() - t

    def settle() -> None:  # the generations still running after their request answered
        while ex._running:
            time.sleep(0.1)

    cold_requests, examples = [], []
    for user_id in ids[: args.lists]:
        before = {m["movie_id"]: m["explanation"] for m in rec.for_user(user_id, 10, explain=True)["items"]}
        items, took = request(user_id)
        cold_requests.append(took)
        settle()
        again, _ = request(user_id)  # what the next request gets: the texts generated meanwhile
        for m in again:
            if m["explanation_source"] == "llm" and len(examples) < 10 and len(examples) < 1 + len(cold_requests) // 2:
                examples.append({"user_id": user_id, "movie": m["title"], "template": before[m["movie_id"]],
                                 "llm": m["explanation"]})  # fmt: skip
    cold = ex.monitor.report()
    cold_latencies = list(ex.monitor.latencies_ms)
    explained = cold["cache_misses"]
    rejected = sum(cold["rejected"].values())

    ex.monitor._reset()
    weights = 1 / np.arange(1, len(ids) + 1) ** 1.1
    draws = rng.choice(len(ids), size=args.replay, p=weights / weights.sum())
    replay_requests = [request(ids[d])[1] for d in draws]
    settle()
    replay = ex.monitor.report()

    def ms(values, q):
        return round(float(np.percentile(np.array(values) * 1000, q)), 1)

    result = {
        "model": provider.model, "threads": 2, "parallel": args.parallel, "budget_ms": args.budget_ms,
        "explanations": explained, "generated": cold["generated"],
        "mean_latency_ms": cold["mean_latency_ms"], "p95_latency_ms": cold["p95_latency_ms"],
        "p50_latency_ms": round(float(np.median(cold_latencies)), 1) if cold_latencies else None,
        "request_p50_ms": ms(cold_requests, 50), "request_p95_ms": ms(cold_requests, 95),
        "over_budget": int(sum(t > budget + 0.05 for t in cold_requests + replay_requests)),
        "rejected": cold["rejected"], "rejected_share": round(rejected / max(cold["generated"], 1), 4),
        "fallbacks": cold["fallbacks"],
        "replay_requests": args.replay, "cache_hit_rate": replay["hit_rate"],
        "replay_request_p50_ms": ms(replay_requests, 50), "replay_request_p95_ms": ms(replay_requests, 95),
        "replay_generated": replay["generated"], "replay_rejected": replay["rejected"],
        "examples": examples,
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'explanations (cold)':<34}{explained:>10}")
    print(f"{'generated':<34}{cold['generated']:>10}")
    print(f"{'mean / p95 ms per explanation':<34}{cold['mean_latency_ms']:>10} / {cold['p95_latency_ms']}")
    print(f"{'p50 / p95 ms per request (cold)':<34}{result['request_p50_ms']:>10} / {result['request_p95_ms']}")
    print(f"{'rejected by the guard':<34}{rejected:>10}  {cold['rejected']}")
    print(f"{'replay: cache hit rate':<34}{replay['hit_rate']:>10}")
    print(f"{'replay: p50 / p95 ms per request':<34}{result['replay_request_p50_ms']:>10} / {result['replay_request_p95_ms']}")
    print(f"{'requests over budget':<34}{result['over_budget']:>10}")
    for e in examples:
        print(f"\n{e['movie']}\n  template: {e['template']}\n  model:    {e['llm']}")
    ex.close()


if __name__ == "__main__":
    main()
