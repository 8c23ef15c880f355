"""`deploy/compose.yaml`: no Docker runs here, so it is held to the Compose specification's JSON schema (the one the
`docker-compose` 1.29.2 wheel carries, which `make setup` takes out of it), and every environment variable it
gives the service must be one the service reads."""

import json
import re
import sys
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"


def compose_schema() -> dict:
    path = Path(sys.prefix) / "compose_spec.json"  # `make setup` keeps it from the docker-compose wheel
    if not path.is_file():
        pytest.fail(f"the Compose specification's schema is missing at {path}: run make setup")
    return json.loads(path.read_text())


def variables_read() -> set[str]:
    """Every environment variable the package and the service entry point read by name."""
    found = set()
    for path in [REPO / "service.py", *(REPO / "src" / "movierec").rglob("*.py")]:
        found |= set(re.findall(r"""(?:environ\.get|env\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']""", path.read_text()))
    return found


def test_the_compose_file_follows_the_compose_specification():
    doc = yaml.safe_load(COMPOSE.read_text())
    validator = jsonschema_rs.validator_for(compose_schema())
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = {**doc, "services": {"movierec": {**doc["services"]["movierec"], "healthcheck": {"test": 5}}}}
    assert not validator.is_valid(broken)  # the schema does judge


def test_the_service_is_given_only_variables_it_reads_and_checked_where_it_says_it_is_ready():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    app = services["movierec"]
    given = set(app["environment"])
    assert given - variables_read() == set(), "set in compose.yaml but read nowhere"
    assert {"REDIS_URL", "QDRANT_URL", "MOVIEREC_WORKERS"} <= given
    check = " ".join(app["healthcheck"]["test"])
    assert "/readyz" in check and "/livez" in check
    redis = " ".join(services["redis"]["command"])
    assert "--maxmemory " in redis and "--maxmemory-policy" in redis
    assert {"redis", "qdrant"} <= set(app["depends_on"])
    volumes = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert {"qdrant-storage", "redis-data"} <= volumes


def test_the_variables_found_are_the_ones_the_docs_document():
    """Every variable the service reads is documented: the README names the main ones, the guide all of them."""
    guide = (REPO / "docs" / "guide.md").read_text()
    served = {v for v in variables_read() if v.startswith(("MOVIEREC_", "REDIS", "QDRANT"))} - {"MOVIEREC_CACHE"}
    assert {v for v in served if v not in guide} == set()
    readme = (REPO / "README.md").read_text()
    assert {"REDIS_URL", "QDRANT_URL", "MOVIEREC_RANKER", "MOVIEREC_EXPLAINER", "MOVIEREC_TRUSTED_PROXIES"} <= {
        v for v in served if v in readme}


def test_make_test_without_root_stops_at_the_browser_with_the_fix(tmp_path):
    """Without root or sudo, `make test` used to print a warning, go on, and fail the page tests minutes later."""
    import shutil
    import subprocess

    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("make", "sh", "bash"):
        (tools / name).symlink_to(shutil.which(name))
    (tools / "id").write_text("#!/bin/sh\necho 1000\n")  # not root
    (tools / "sudo").write_text("#!/bin/sh\nexit 1\n")  # and no sudo
    for script in ("id", "sudo"):
        (tools / script).chmod(0o755)
    env = {"PATH": str(tools), "HOME": str(tmp_path)}
    stopped = subprocess.run(["make", "-s", "browser"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode != 0
    assert "sudo apt-get install chromium" in stopped.stderr and "CHROMIUM=/path/to/chromium" in stopped.stderr
    given = subprocess.run(["make", "-s", "browser"], cwd=REPO, env={**env, "CHROMIUM": "/opt/chrome/chrome"},
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert given.returncode == 0, given.stderr
