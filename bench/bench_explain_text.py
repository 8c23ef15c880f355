"""Benchmark: what the local model writes, and what the guard lets through.

    python bench/bench_explain_text.py        # after dvc repro and make setup (reads models/, data/)

For 200 explained recommendations (the demo profiles' top 10, then sampled users' top 10, as in
bench_explain.py), the local model (llama.cpp, SmolLM2-135M-Instruct unless --model names another GGUF) writes
each text with no time limit; the guard (movierec.explanations.guard) judges it. Prints the share served, the
count of each rejection reason and the texts served, and writes them all to bench/results/explain_text.json,
so that the served texts can be read back against the data (bench/README.md says what that reading found).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="the project whose outputs to read")
    ap.add_argument("--lists", type=int, default=20, help="lists of 10")
    ap.add_argument("--model", default=None, help="a GGUF file (default: SmolLM2-135M-Instruct)")
    ap.add_argument("--seed", type=int, default=2, help="draws the users after the demo profiles (the guard's "
                    "word lists were written looking at seeds 0 and 1's texts: read back on another)")
    ap.add_argument("--out", default=str(HERE / "results" / "explain_text.json"))
    args = ap.parse_args()
    from movierec.explanations import guard, prompt
    from movierec.explanations.context import CONTEXT, template
    from movierec.explanations.providers import LocalProvider
    from movierec.serving.recommender import Paths, Recommender

    rec = Recommender(Paths.under(args.root))
    provider = LocalProvider(args.model)
    counts = np.diff(rec.bundle.indptr)
    rng = np.random.default_rng(args.seed)
    demo = [rec.user_idx[p["user_id"]] for p in rec.profiles.values()]
    others = rng.permutation(np.setdiff1d(np.flatnonzero(counts >= 20), demo))
    user_id_of = {i: u for u, i in rec.user_idx.items()}
    rows, seconds = [], []
    # seed 0: the demo profiles first (as bench_explain.py); other seeds: none of them, a set of users of its own
    for u in ([*demo, *others] if args.seed == 0 else list(others))[: args.lists]:
        for m in rec.for_user(int(user_id_of[u]), 10, explain=True)["items"]:
            ctx = m[CONTEXT]
            if not ctx.anchors:  # nothing to ground a text on: the template, as the explainer does
                rows.append({"movie": ctx.title, "text": None, "verdict": "template_only", "template": template(ctx)})
                continue
            t = time.perf_counter()
            out = provider.generate(prompt.messages(ctx, provider.prefill), prompt.grammar(ctx, provider.prefill))
            seconds.append(time.perf_counter() - t)
            text = prompt.answer(ctx, out.text, provider.prefill)
            verdict = "unfinished" if prompt.cut_short(ctx, text) else guard.check(text, ctx, set(rec.genres)) or "served"
            rows.append({"movie": ctx.title, "text": text, "verdict": verdict, "template": template(ctx)})
    verdicts = Counter(r["verdict"] for r in rows)
    written = sum(r["text"] is not None for r in rows)
    result = {
        "model": provider.model, "seed": args.seed, "items": len(rows), "written": written, "served": verdicts["served"],
        "served_share": round(verdicts["served"] / max(written, 1), 3),
        "rejected": {k: v for k, v in sorted(verdicts.items()) if k not in ("served", "template_only")},
        "seconds_per_text": round(float(np.mean(seconds)), 2) if seconds else None,
        "texts": rows,
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"model {provider.model}: {written} texts written, {verdicts['served']} served "
          f"({result['served_share']:.1%}); {result['seconds_per_text']} s each")  # fmt: skip
    print("rejected:", result["rejected"])
    for r in rows:
        if r["verdict"] == "served":
            print(" -", r["text"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
