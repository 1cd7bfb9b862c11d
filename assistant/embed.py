"""Sentence embeddings: in-process with sentence-transformers, or from an OpenAI-compatible server.

``Embedder`` (the default) calls SentenceTransformer directly (not llama-index's
HuggingFaceEmbedding wrapper) so ingest throughput is the model's own: the wrapper adds per-call
overhead and a second batching layer. The model loads on first use, so commands that embed
nothing (an unchanged re-ingest, ``assistant show``) never pay its start-up.

``ServerEmbedder`` (``ASSISTANT_EMBED_URL``) sends batches of texts to ``<url>/embeddings`` in the
OpenAI format (infinity-emb, vLLM, text-embeddings-inference, llama.cpp's server, OpenAI itself),
through the ``openai`` client the project already uses. Why a server: one embedding model serves
every app replica (one copy of the weights, a GPU if there is one, the server's own dynamic
batching), and ingest no longer competes with answering for the app machine's CPU. The price
is a network hop per batch and one more service to run (ingest throughput in-process and through
infinity-emb on one machine: ``benchmarks/embed_server.py``, docs/deploy.md section 7).

Both return unit-length vectors (the retriever's dense score is a dot product): a server's
vectors are normalized here, whatever the server does. The server embedder is identified by
the vectors it gives (``identity.describe``), not by its name, so the packaged MiniLM served
remotely is recognised as the model that wrote an index, and another model is refused.
A server that is down, slow or answers an error is one ``EmbedderError`` line naming the URL
and the setting to check.
"""

from __future__ import annotations

import threading

import numpy as np

from .errors import EmbedderError
from .llm import _message_of, _one_line, _reason  # the LLM client's wording of the same failures
from .settings import Settings


class Embedder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                from .models import embedding_model_path

                torch.set_num_threads(self.settings.threads)
                self._model = SentenceTransformer(embedding_model_path(self.settings), device="cpu")
            return self._model

    def embed(self, texts: list[str], batch_size: int = 32):
        """Unit-length vectors (so cosine similarity is a dot product), as a numpy array."""
        return self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


class ServerEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint, ``embed_batch`` texts per request."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.embed_url.rstrip("/")
        self.model_name = settings.embed_name
        self.name = f"{self.model_name} at {self.url}"  # what identity records; vectors decide sameness
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.url,
                    api_key=self.settings.embed_api_key or "not-needed",
                    timeout=self.settings.embed_timeout_s,
                    max_retries=1,
                )
            return self._client

    def embed(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-length vectors, one row per text, in order; batches of ``batch_size`` (default ``embed_batch``)."""
        size = batch_size or self.settings.embed_batch
        rows = [self._request(list(texts[i : i + size])) for i in range(0, len(texts), size)]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.concatenate(rows).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _request(self, texts: list[str]) -> np.ndarray:
        import openai

        where = f"the embeddings server at {self.url} (ASSISTANT_EMBED_URL)"
        try:
            # An empty string is refused by some servers; a space embeds the same "nothing".
            got = self.client.embeddings.create(
                model=self.model_name, input=[t or " " for t in texts], encoding_format="float"
            )
        except openai.APITimeoutError:
            raise EmbedderError(
                f"{where} did not answer within {self.settings.embed_timeout_s:g} s; "
                "check the server or raise ASSISTANT_EMBED_TIMEOUT_S"
            ) from None
        except openai.APIConnectionError as e:
            raise EmbedderError(
                f"{where} is unreachable: {_reason(e)}; start it or unset ASSISTANT_EMBED_URL"
            ) from None
        except openai.APIStatusError as e:
            hint = {
                401: "check ASSISTANT_EMBED_API_KEY",
                403: "check ASSISTANT_EMBED_API_KEY",
                404: "check ASSISTANT_EMBED_URL (the part before /embeddings) and ASSISTANT_EMBED_NAME",
            }.get(e.status_code, f"check ASSISTANT_EMBED_NAME ({self.model_name!r}) names a served model")
            raise EmbedderError(f"{where} answered HTTP {e.status_code}: {_one_line(_message_of(e))}; {hint}") from None
        except openai.OpenAIError as e:  # a body that is not the OpenAI shape
            raise EmbedderError(f"{where} gave an unusable answer: {_one_line(str(e))}") from None
        data = sorted(got.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise EmbedderError(f"{where} returned {len(data)} embeddings for {len(texts)} texts")
        return np.asarray([d.embedding for d in data], dtype=np.float32)
