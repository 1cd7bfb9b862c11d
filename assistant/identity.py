"""What an index was built with, so that a query or an ingest with other settings is caught.

An index is only meaningful with the embedding model that wrote it: vectors of two models, even
of the same dimension, live in different spaces, and Chroma itself only notices a dimension
change (with a raw ``InvalidArgumentError``). So the collection's metadata records the embedder's
*fingerprint*: the vector it gives a fixed probe sentence. Comparing fingerprints (cosine >= 0.99)
recognises the same model wherever its folder lives and catches a different one of the same
size, at the price of one embedding per process. An embeddings server (``ASSISTANT_EMBED_URL``)
is fingerprinted the same way, so the packaged MiniLM served by infinity-emb opens an index the
in-process MiniLM wrote (and the reverse), while another model behind the same URL is refused.
A mismatch is an ``IndexNotReady`` error that names the fix, ``assistant ingest --rebuild``.

How documents were cut into chunks (``chunk_tokens`` and the chunker's version) is part of each
document's stored version key instead (``version_key``): a changed chunk size makes the next
ingest re-chunk and re-embed each file, with no rebuild needed, because chunks of different
sizes can share one index.

An index written before fingerprints existed has none; it adopts the current embedder's (it
cannot be checked, and refusing it would break every existing index).
"""

from __future__ import annotations

import hashlib
import json

from .errors import IndexNotReady

# Bump when extraction, text.chunk_spans or the chunk prefix change what a chunk is
# (2: PDF line joining, pages, sections; 3: HTML drops text hidden by class, aria-hidden, more styles).
# Not bumped for generic front matter with outlet/dated fields: the prefix and spans of the fixed
# header keys it replaced are byte-identical, so old chunks stay valid and their two new fields are
# read from their stored prefix (store._old_fields).
CHUNKER_VERSION = 3
PROBE = "A short fixed sentence whose embedding identifies the model that wrote this index."
SAME_MODEL_COSINE = 0.99  # the same model on another machine or thread count agrees to ~1e-6
FIELD = "embedder"  # collection metadata key: JSON {"name", "dim", "probe"}


def version_key(file_hash: str, settings) -> str:
    """The stored version of a file: its bytes plus how they were chunked."""
    return hashlib.sha256(f"{file_hash}:chunker{CHUNKER_VERSION}:{settings.chunk_tokens}".encode()).hexdigest()


def embedder_name(settings, embedder=None) -> str:
    """A model given as an object (``Assistant(embed_model=...)``) names itself."""
    return getattr(embedder, "name", None) or settings.embed_model or "all-MiniLM-L6-v2 (packaged)"


def describe(embedder, settings) -> dict:
    probe = [round(float(x), 5) for x in embedder.embed([PROBE])[0]]
    return {"name": embedder_name(settings, embedder), "dim": len(probe), "probe": probe}


def _cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return -1.0
    dot = sum(x * y for x, y in zip(a, b))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else -1.0


def check_name(store, embedder, settings) -> None:
    """The cheap check an unchanged re-ingest can afford: the full one only when the model's name changed."""
    raw = store.metadata().get(FIELD)
    if raw and json.loads(raw).get("name") != embedder_name(settings, embedder):
        check(store, embedder, settings)


def check(store, embedder, settings) -> None:
    """Raise IndexNotReady when the index was written by another embedder; record it when unknown."""
    current = describe(embedder, settings)
    raw = store.metadata().get(FIELD)
    if not raw:
        store.update_metadata({FIELD: json.dumps(current)})
        return
    built = json.loads(raw)
    if _cosine(built.get("probe", []), current["probe"]) >= SAME_MODEL_COSINE:
        return
    raise IndexNotReady(
        f"the index at {store.where} was built with the embedding model {built.get('name')!r} "
        f"({built.get('dim')} dimensions), but the settings now use {current['name']!r} ({current['dim']} dimensions): "
        "run `assistant ingest PATH --rebuild` to re-embed your documents with it, "
        "or set ASSISTANT_EMBED_MODEL / ASSISTANT_EMBED_URL back"
    )
