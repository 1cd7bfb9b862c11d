"""LLM backends behind one tiny interface: ``stream(messages) -> pieces of text``.

Design:
- ``LLM.stream(messages, max_tokens, temperature, stop)`` yields text pieces as the model makes
  them; ``complete`` joins them. Messages are OpenAI-style ``{"role", "content"}`` dicts.
- ``EmbeddedLLM`` runs a GGUF in-process with ``xllamacpp`` (llama.cpp's own server engine,
  called from Python without HTTP). It loads on first use, keeps one slot, and serialises
  requests with a lock (the machine has few cores, parallel requests only slow each other).
  llama.cpp keeps the KV cache of the last prompt (``cache_prompt``), so a second question over
  the same system prompt and sources only evaluates its new tokens; ``last_timings`` reports
  ``cache_n`` (tokens reused) and ``prompt_n`` (tokens evaluated) of the last request.
  xllamacpp's streaming API is a blocking call with a callback, so a worker thread runs the
  request and hands pieces to the caller's generator through a queue; closing the generator
  early makes the callback return True, which stops generation.
  xllamacpp always opens an HTTP listener on a random loopback port as well; it gets a random
  API key and no ``/slots`` endpoint so that other local programs cannot read prompts.
- ``OpenAICompatibleLLM`` talks to any OpenAI-compatible server (vLLM, Ollama, llama.cpp,
  ``python -m assistant.llm_server``) through llama-index's ``OpenAILike``; connection
  failures, timeouts and HTTP errors become one-line ``LLMError`` messages naming the URL,
  after at most one quick retry.
- ``load_llm(settings)`` picks: ``llm_url`` set -> server, else the embedded GGUF.

Importing this module is cheap: xllamacpp and llama-index are imported inside the classes.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import LLMError
from .models import llm_model_path

# OMP_WAIT_POLICY=PASSIVE (llama.cpp's OpenMP threads must not spin) is set by assistant/__init__.py.


class LLM:
    """What the rest of the assistant needs from a language model."""

    name: str = "llm"

    def stream(
        self,
        messages: list[dict],
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        raise NotImplementedError

    def complete(
        self,
        messages: list[dict],
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))

    def yes_probability(self, messages: list[dict]) -> float:
        """P("Yes") against P("No") as the model's one-word reply to ``messages``.

        A backend without token probabilities answers with its one word: 1.0, 0.0, or 0.5 when
        the word is neither. Backends with log-probabilities override this (a graded score can be
        thresholded and measured; a hard word cannot).
        """
        word = self.complete(messages, max_tokens=2, temperature=0.0).strip().lower()
        return 1.0 if word.startswith("yes") else 0.0 if word.startswith("no") else 0.5


def yes_share(top_logprobs: list[dict]) -> float:
    """P(yes) / (P(yes) + P(no)) over the first token's alternatives ("Yes", " yes", "YES"...)."""
    import math

    yes = no = 0.0
    for alt in top_logprobs or []:
        token = str(alt.get("token", "")).strip().lower()
        p = math.exp(float(alt.get("logprob", -100.0)))
        if token in ("yes", "y", "ye"):
            yes += p
        elif token in ("no", "n"):
            no += p
    return 0.5 if yes + no == 0 else yes / (yes + no)


def xllamacpp_params(
    model_path: str,
    n_ctx: int = 4096,
    threads: int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str | None = None,
    api_key: str = "",
    parallel: int = 1,
):
    """``xllamacpp.CommonParams`` shared by the embedded LLM and ``assistant.llm_server``.

    ``parallel`` slots decode their requests in one batch (llama.cpp's continuous batching); each
    slot gets ``n_ctx`` tokens, so the context allocated is ``n_ctx * parallel``. One slot (the
    embedded LLM) queues requests and keeps the last prompt's KV cache."""
    import xllamacpp

    threads = max(1, int(threads or os.cpu_count() or 1))
    parallel = max(1, int(parallel))
    p = xllamacpp.CommonParams()
    p.model.path = model_path
    p.n_ctx = int(n_ctx) * parallel  # llama.cpp splits the context between the slots
    p.n_parallel = parallel
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.cache_prompt = True
    p.cache_ram_mib = 1024  # host-RAM copies of earlier prompts' KV cache (default 8 GiB)
    p.verbosity = 1  # llama.cpp logs errors only
    p.hostnames = [host]  # never empty: xllamacpp segfaults
    p.port = int(port)
    p.endpoint_slots = False  # /slots would show prompts to anyone who can reach the port
    if api_key:
        p.api_keys = [api_key]
    if name:
        p.model_alias = {name}
    return p


class EmbeddedLLM(LLM):
    """A GGUF model run in this process by xllamacpp; thread-safe, loads on first use."""

    def __init__(self, model_path: str, n_ctx: int = 4096, threads: int | None = None, name: str | None = None):
        self.model_path = str(model_path)
        self.n_ctx = int(n_ctx)
        self.threads = threads
        self.name = name or Path(self.model_path).stem
        self.load_seconds: float | None = None
        self.last_timings: dict = {}  # llama.cpp "timings" of the last finished request
        self._server = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one request at a time

    def load(self):
        """Load the model now (otherwise the first request does). Returns the xllamacpp server."""
        if self._server is not None:
            return self._server
        with self._load_lock:
            if self._server is None:
                if not os.path.isfile(self.model_path):
                    raise LLMError(f"LLM model file not found: {self.model_path}")
                try:
                    import xllamacpp
                except ImportError:
                    raise LLMError(
                        "xllamacpp is not installed: pip install xllamacpp, or set ASSISTANT_LLM_URL"
                    ) from None
                # The random key locks the HTTP listener xllamacpp opens; in-process calls skip it.
                params = xllamacpp_params(
                    self.model_path, self.n_ctx, self.threads, name=self.name, api_key=secrets.token_urlsafe(24)
                )
                t0 = time.perf_counter()
                try:
                    self._server = xllamacpp.Server(params)
                except RuntimeError:
                    raise LLMError(
                        f"could not load LLM model {self.model_path}: not a valid GGUF, or too "
                        f"big for memory with n_ctx={self.n_ctx} (see the llama.cpp error above)"
                    ) from None
                self.load_seconds = time.perf_counter() - t0
        return self._server

    def _request(self, messages, max_tokens, temperature, stop) -> dict:
        req = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "stream": True,
            "cache_prompt": True,
        }
        if stop:
            req["stop"] = list(stop)
        return req

    def yes_probability(self, messages: list[dict]) -> float:
        request = self._request(messages, 1, 0.0, None)
        request.update(stream=False, logprobs=True, top_logprobs=10)
        server = self.load()
        with self._lock:
            try:
                out = server.handle_chat_completions(request)
            except Exception as e:  # bad request: xllamacpp raises ValueError
                raise LLMError(f"embedded LLM rejected the request: {e}") from None
        if isinstance(out, dict) and "error" in out:
            raise _error_of(out)
        self.last_timings = out.get("timings", {})
        content = ((out.get("choices") or [{}])[0].get("logprobs") or {}).get("content") or [{}]
        return yes_share(content[0].get("top_logprobs"))

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None) -> Iterator[str]:
        request = self._request(messages, max_tokens, temperature, stop)
        server = self.load()
        pieces: queue.SimpleQueue = queue.SimpleQueue()
        cancel = threading.Event()
        done = object()

        def on_chunk(chunk) -> bool:
            if isinstance(chunk, dict):
                if "error" in chunk:
                    pieces.put(_error_of(chunk))
                else:
                    if "timings" in chunk:
                        self.last_timings = chunk["timings"]
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            pieces.put(text)
            return cancel.is_set()  # True stops generation

        def work():
            try:
                with self._lock:
                    if not cancel.is_set():
                        server.handle_chat_completions(request, on_chunk)
            except Exception as e:  # bad request: xllamacpp raises ValueError
                pieces.put(LLMError(f"embedded LLM rejected the request: {e}"))
            finally:
                pieces.put(done)

        threading.Thread(target=work, name="embedded-llm", daemon=True).start()
        try:
            while (item := pieces.get()) is not done:
                if isinstance(item, LLMError):
                    raise item
                yield item
        finally:
            cancel.set()


def _error_of(chunk: dict) -> LLMError:
    err = chunk.get("error") or {}
    msg = err.get("message") if isinstance(err, dict) else str(err)
    if isinstance(err, dict) and err.get("type") == "exceed_context_size_error":
        return LLMError(f"prompt too long for the LLM: {msg} (raise ASSISTANT_N_CTX or send less text)")
    return LLMError(f"embedded LLM error: {msg}")


class OpenAICompatibleLLM(LLM):
    """Any OpenAI-compatible chat server, through llama-index's ``OpenAILike``."""

    def __init__(
        self,
        url: str,
        model: str = "default",
        api_key: str = "not-needed",
        timeout: float = 120.0,
        max_retries: int = 1,
    ):
        from llama_index.llms.openai_like import OpenAILike

        self.url = url.rstrip("/")
        self.name = model
        self.timeout = float(timeout)
        self._llm = OpenAILike(
            model=model,
            api_base=self.url,
            api_key=api_key or "not-needed",
            is_chat_model=True,
            is_function_calling_model=False,
            timeout=self.timeout,
            max_retries=max_retries,
            temperature=0.0,
        )

    def yes_probability(self, messages: list[dict]) -> float:
        """From the server's log-probabilities when it returns them (llama.cpp, vLLM, OpenAI do)."""
        import openai

        client = openai.OpenAI(
            base_url=self.url, api_key=self._llm.api_key or "not-needed", timeout=self.timeout, max_retries=1
        )
        try:
            out = client.chat.completions.create(
                model=self.name,
                messages=messages,  # type: ignore[arg-type]  # plain role/content dicts
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=10,
            )
        except openai.APIError:
            return super().yes_probability(messages)  # no logprobs here: the word itself
        choice = out.choices[0]
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        if not content:
            return super().yes_probability(messages)
        return yes_share([{"token": a.token, "logprob": a.logprob} for a in content[0].top_logprobs])

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None) -> Iterator[str]:
        import httpx
        import openai
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        kwargs: dict = {"max_tokens": int(max_tokens), "temperature": float(temperature)}
        if stop:
            kwargs["stop"] = list(stop)
        try:
            for response in self._llm.stream_chat(chat, **kwargs):
                if response.delta:
                    yield response.delta
        except openai.APITimeoutError:
            raise LLMError(
                f"LLM server at {self.url} did not answer within {self.timeout:g} s; "
                "check the server or raise ASSISTANT_LLM_TIMEOUT_S"
            ) from None
        except openai.APIConnectionError as e:
            raise LLMError(
                f"LLM server at {self.url} is unreachable: {_reason(e)}. Start it or unset ASSISTANT_LLM_URL."
            ) from None
        except openai.APIStatusError as e:
            hint = {
                401: " (check ASSISTANT_LLM_API_KEY)",
                403: " (check ASSISTANT_LLM_API_KEY)",
                404: " (check ASSISTANT_LLM_URL ends in /v1 and ASSISTANT_LLM_NAME names a served model)",
            }.get(e.status_code, "")
            raise LLMError(
                f"LLM server at {self.url} answered HTTP {e.status_code}: {_one_line(_message_of(e))}{hint}"
            ) from None
        except openai.APIError as e:  # an error event in the middle of a stream
            raise LLMError(f"LLM server at {self.url} failed: {_one_line(_message_of(e))}") from None
        except httpx.TransportError as e:  # the server went away in the middle of a stream
            raise LLMError(
                f"LLM server at {self.url} dropped the connection mid-answer: {_reason(e)}. "
                "Check the server and ask again."
            ) from None


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, in a few words."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    inner = exc
    while (deeper := inner.__cause__ or inner.__context__) is not None:
        inner = deeper
    text = str(inner) or type(inner).__name__
    if "refused" in text.lower():
        return "connection refused"
    return _one_line(text)


def _message_of(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", "") or exc)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_llm(settings) -> LLM:
    """The LLM the settings ask for: a server when ``llm_url`` is set, else the embedded GGUF."""
    if settings.llm_url:
        return OpenAICompatibleLLM(
            settings.llm_url,
            model=settings.llm_name,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_s,
        )
    return EmbeddedLLM(llm_model_path(settings), n_ctx=settings.n_ctx, threads=settings.threads)
