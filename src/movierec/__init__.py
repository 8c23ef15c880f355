"""movierec: a MovieLens recommender built as one reproducible DVC pipeline."""

__version__ = "0.1.0"
