"""Hyper-parameter search over params.yaml with Optuna, judged on validation (`movierec tune`)."""
