"""Offline-first chat with your documents: cited answers, honest refusals.

    from assistant import Assistant
    a = Assistant()
    a.ingest("seeds")
    print(a.ask("Has Trump authorized the strikes?").answer)
"""
from .core import Assistant
from .phrases import REFUSAL
from .schema import Answer, Citation, Passage
from .settings import Settings

__all__ = ["Assistant", "Answer", "Citation", "Passage", "Settings", "REFUSAL"]
