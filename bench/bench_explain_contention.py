"""Benchmark: what the local model's generation costs the requests served beside it.

    python bench/bench_explain_contention.py     # after dvc repro and make setup

The recommender answers known users' top 10 (uncached, one after another, 400 requests) three times: alone, and
while the local model writes explanations without pause on 1 and then 2 threads (MOVIEREC_LLM_THREADS). Prints
the requests' p50 / p99 and the texts written per second, and writes bench/results/explain_contention.json.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--out", default=str(HERE / "results" / "explain_contention.json"))
    args = ap.parse_args()
    from movierec.explanations import prompt
    from movierec.explanations.context import CONTEXT
    from movierec.explanations.providers import LocalProvider
    from movierec.serving.recommender import Paths, Recommender

    rec = Recommender(Paths.under(args.root))
    users = list(rec.user_idx)
    rng = np.random.default_rng(0)
    contexts = [m[CONTEXT] for u in users[:10] for m in rec.for_user(u, 10, explain=True)["items"] if m[CONTEXT].anchors]

    def serve() -> dict:
        took = []
        for u in rng.choice(users, args.requests):
            t = time.perf_counter()
            rec.for_user(int(u), 10)
            took.append((time.perf_counter() - t) * 1000)
        return {"p50_ms": round(float(np.percentile(took, 50)), 2), "p99_ms": round(float(np.percentile(took, 99)), 2)}

    result = {"alone": serve()}
    for threads in (1, 2):
        provider = LocalProvider(threads=threads)
        stop, written = threading.Event(), [0]

        def write() -> None:
            i = 0
            while not stop.is_set():
                ctx = contexts[i % len(contexts)]
                provider.generate(prompt.messages(ctx, True), prompt.grammar(ctx, True))
                written[0] += 1
                i += 1

        worker = threading.Thread(target=write)
        worker.start()
        time.sleep(2)  # generating before the first request
        t = time.perf_counter()
        row = serve()
        row["texts_per_s"] = round(written[0] / (time.perf_counter() - t + 2), 2)
        stop.set()
        worker.join()
        result[f"llm_threads_{threads}"] = row
        del provider
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':<16}{'p50 ms':>8}{'p99 ms':>8}{'texts/s':>9}")
    for name, r in result.items():
        print(f"{name:<16}{r['p50_ms']:>8}{r['p99_ms']:>8}{r.get('texts_per_s', ''):>9}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
