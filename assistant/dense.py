"""Dense search: the nearest chunks of query vectors in Chroma, and the stored vectors of chunks.

Chroma is live (an ingest may write to it during a search) while a search works on one
``Snapshot``, so every id Chroma returns is mapped to the snapshot's positions and an id the
snapshot lacks (added meanwhile) is dropped; a chunk deleted meanwhile gets a zero vector.

**Scope** (``docs=``, "ask within these documents"): the k nearest chunks *within* the scope's
documents are asked for (a ``where`` filter applied before the neighbour search,
``Store.nearest_within``), not the top k of the whole index filtered afterwards, which would
come back empty for a small document in a large index.
"""

from __future__ import annotations

import numpy as np

from .snapshot import Snapshot
from .store import Store


def nearest(store: Store, snap: Snapshot, qvecs: np.ndarray, n: int, scope: set[int] | None = None) -> list[list[int]]:
    """Snapshot positions of the n nearest chunks of each query vector (within the scope's documents)."""
    if scope is not None:
        n = min(n, sum(len(snap.doc_chunks[d]) for d in scope))
        ids = store.nearest_within(qvecs.tolist(), n, [snap.sources[d] for d in sorted(scope)])
        return [[snap.pos[i] for i in got if i in snap.pos] for got in ids]
    n = min(n, store.count())
    if n <= 0:
        return [[] for _ in qvecs]
    try:
        r = store.collection.query(query_embeddings=qvecs.tolist(), n_results=n, include=[])
    except Exception:
        r = {"ids": [[c.id for c, _ in store.query(v.tolist(), n)] for v in qvecs]}
    return [[snap.pos[i] for i in ids if i in snap.pos] for ids in r["ids"]]


def stored_vectors(store: Store, ids: list[str], dim: int) -> np.ndarray:
    """Stored vectors of chunks (zeros for one deleted meanwhile)."""
    got = store.collection.get(ids=ids, include=["embeddings"])
    vec = {i: e for i, e in zip(got["ids"], got["embeddings"])}
    zero = np.zeros(dim, dtype=np.float32)
    return np.asarray([vec[i] if i in vec else zero for i in ids], dtype=np.float32).reshape(len(ids), dim)
