"""Entry point for `bentoml serve` and `bentoml build`: the service lives in the movierec package."""

import sys
from pathlib import Path

try:
    import movierec  # noqa: F401  (installed with `pip install -e .`)
except ImportError:  # inside a Bento, the package travels as source under src/
    sys.path.insert(0, str(Path(__file__).parent / "src"))

from movierec.serving.service import MovieRec  # noqa: E402,F401
