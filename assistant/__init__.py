"""Offline-first chat with your documents: cited answers, honest refusals.

    from assistant import Assistant
    a = Assistant()
    a.ingest("seeds")
    print(a.ask("Has Trump authorized the strikes?").answer)
"""
import os

# llama.cpp's OpenMP threads spin while waiting; on a busy 2-core machine that starves the
# embedder and the web server (generation fell from ~15 to ~1 tok/s). libgomp reads this once,
# when it is first loaded (by torch or xllamacpp), so it must be set before either is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .core import Assistant  # noqa: E402
from .phrases import REFUSAL
from .schema import Answer, Citation, Passage
from .settings import Settings

__all__ = ["Assistant", "Answer", "Citation", "Passage", "Settings", "REFUSAL"]
