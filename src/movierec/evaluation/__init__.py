"""Ranking metrics, baselines and the evaluation protocol."""
