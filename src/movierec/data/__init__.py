"""Getting MovieLens in: download, normalise, synthesise, validate, split."""
