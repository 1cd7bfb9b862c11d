"""Sentence embeddings with sentence-transformers, loaded lazily.

We call SentenceTransformer directly (not llama-index's HuggingFaceEmbedding wrapper) so
ingest throughput is the model's own: the wrapper adds per-call overhead and a second
batching layer. The model loads on first use, so commands that embed nothing (an
unchanged re-ingest, ``assistant show``) never pay its start-up.
"""

from __future__ import annotations

import threading

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
