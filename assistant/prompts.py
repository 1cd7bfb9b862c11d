"""Prompt templates, loaded from the repository's ``prompts/`` folder.

In a checkout (and an editable install) they are read from ``prompts/`` beside the package; an
installed wheel carries the same files as package data in ``assistant/prompts/`` (pyproject.toml
maps the folder there), so one lookup order serves both.

Templates are plain files so they can be read and edited without touching code; the phrases
the code depends on (the refusal phrase) are filled in from ``phrases`` so that the model is
told exactly the words the checker looks for.
"""

from __future__ import annotations

import functools
from pathlib import Path

from . import phrases

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@functools.cache
def template(name: str) -> str:
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():  # installed as a wheel: prompts ship as package data
        path = Path(__file__).resolve().parent / "prompts" / f"{name}.md"
    return path.read_text(encoding="utf-8").strip()


def render(name: str, **values: str) -> str:
    return template(name).format(refusal=phrases.REFUSAL, **values)
