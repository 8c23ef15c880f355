"""The service with its index search replaced by a fixed answer, for ``bench_request_cost.py`` only.

Everything else an uncached recommendation does runs as in the service: request parsing and validation, the
user's history, the cache lookup and write, the items' fields, the JSON encoding. The search answers the ``k``
most rated movies, rated by the user or not.
"""

from movierec.serving import recommender


def _fixed(self, vector, k, genres, year_min, year_max, seen):
    return [(int(i), 1.0) for i in self._by_popularity[:k]]


recommender.Recommender._search = _fixed

from movierec.serving.service import MovieRec  # noqa: E402,F401  (after the patch: its workers import this module)
