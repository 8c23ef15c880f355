"""The published contract: schemathesis generates requests from the served OpenAPI document (valid ones and
invalid ones) and holds every answer to it. Before the document was made true to the service, a run found 500s,
answers that broke their declared schema, valid requests refused and invalid ones accepted."""

import json
import os
import subprocess
import urllib.request

import pandas as pd
import pytest

from tests.serving.conftest import BIN, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed(project, redis_server, tmp_path_factory):
    """A server of its own: thousands of new sessions, with no limit on how fast they come."""
    s = start_server(project, tmp_path_factory.mktemp("contract") / "serve.log", REDIS_URL=redis_server.url,
                     MOVIEREC_NEW_SESSIONS_PER_MINUTE="0")  # fmt: skip
    yield s
    s.proc.terminate()
    s.proc.wait(15)


def test_the_document_declares_each_answer_and_every_refusal_in_one_shape(fuzzed, project):
    with urllib.request.urlopen(fuzzed.base + "/docs.json", timeout=30) as r:
        doc = json.loads(r.read())
    schemas = doc["components"]["schemas"]
    recommend = doc["paths"]["/recommend"]["post"]
    assert recommend["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ForUser"}
    assert set(recommend["responses"]) == {"200", "400", "404", "413", "415", "500"}
    assert set(doc["paths"]["/rate"]["post"]["responses"]) >= {"429", "503"}
    errors = {json.dumps(r["content"]) for p in doc["paths"].values() for op in p.values()
              for code, r in op.get("responses", {}).items() if code[0] in "45" and "content" in r}  # fmt: skip
    assert len(errors) == 1 and "#/components/schemas/Error" in errors.pop()
    assert schemas["ForUser"]["additionalProperties"] is False  # an undeclared field is a violation
    catalog = pd.read_parquet(project / "data" / "index" / "catalog.parquet")
    genres = sorted({g for gs in catalog["genres"] for g in gs})
    assert schemas["popular__Input"]["properties"]["genres"]["items"]["enum"] == genres  # the catalogue's own
    profiles = json.loads((project / "data" / "index" / "profiles.json").read_text())
    assert set(schemas["demo__Input"]["properties"]["profile"]["enum"]) == {p["key"] for p in profiles}
    assert doc["paths"]["/recommend"]["post"]["requestBody"]["required"] is True
    assert doc["paths"]["/popular"]["post"]["requestBody"]["required"] is False


def test_generated_requests_get_answers_true_to_the_document(fuzzed, tmp_path):
    """Zero server errors, zero answers outside their schema or status codes, valid requests accepted and
    invalid ones refused: every check schemathesis has, over every operation, in its four phases (with no hook:
a year range with no year in it is valid, as the document says, and answered with an empty list)."""
    env = {**os.environ, "NO_COLOR": "1"}
    out = subprocess.run([os.path.join(BIN, "st"), "run", fuzzed.base + "/docs.json", "--checks", "all",
                          "--max-examples", "25", "--seed", "20261202", "--workers", "2"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failures" not in out.stdout.split("SUMMARY")[-1]
