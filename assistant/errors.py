"""The one error type users see: ``AssistantError`` and the few subclasses callers tell apart.

Design: every failure a user can cause or fix (a missing index, an empty question, an unreadable
file, an unreachable server, a bad setting) is raised as an ``AssistantError`` whose ``str()`` is
one line saying what happened and what to do. Front ends (CLI, web app, HTTP APIs) show exactly
that line; anything else is a bug, logged with its traceback (to the server log or, for the CLI,
``ASSISTANT_DEBUG=1``) and shown as a one-line "unexpected error". Subclasses exist only where a
caller acts differently: an HTTP API maps ``InputError``/``SettingsError`` to 400,
``IndexNotReady`` to 409, ``Busy`` to 429 (with ``Retry-After``), ``Forbidden`` to 403 and the rest
to 503; ingest skips an ``UnreadableFile`` and goes on.
"""

from __future__ import annotations

import os


class AssistantError(Exception):
    """An error with a one-line message meant for the user."""


class InputError(AssistantError, ValueError):
    """The request itself is wrong (empty question, missing path, unknown document)."""


class SettingsError(AssistantError, ValueError):
    """A setting has a value that cannot work; the message names the setting."""


class IndexNotReady(AssistantError):
    """There is no index yet, it is empty, or it was built differently (the message says how to fix it)."""


class StoreError(AssistantError, RuntimeError):
    """The index cannot be reached or opened."""


class LLMError(AssistantError, RuntimeError):
    """The LLM could not answer."""


class ModelError(AssistantError, RuntimeError):
    """A model file is missing or broken."""


class EmbedderError(AssistantError, RuntimeError):
    """The embeddings server (``ASSISTANT_EMBED_URL``) is down, too slow, or answered an error."""


class Busy(AssistantError):
    """Too many questions are waiting for an answer (see ``assistant/queueing.py``); try again later."""

    def __init__(self, waiting: int, retry_after: int):
        super().__init__(
            f"The assistant is busy: {waiting} question{'s are' if waiting != 1 else ' is'} waiting; "
            f"try again in about {retry_after} s."
        )
        self.waiting = waiting
        self.retry_after = retry_after


class TimedOut(AssistantError):
    """A question was not answered within ``answer_timeout_s`` (waiting in line included)."""


class Forbidden(AssistantError):
    """The logged-in user (or API key) may not use that collection (``assistant/accounts.py``)."""


class UnreadableFile(AssistantError):
    """A file that cannot become a Document; ``str(exc)`` is a one-line human reason."""

    def __init__(self, reason: str, path: str | os.PathLike | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = str(path) if path is not None else None


__all__ = [
    "AssistantError",
    "InputError",
    "SettingsError",
    "IndexNotReady",
    "StoreError",
    "LLMError",
    "ModelError",
    "EmbedderError",
    "UnreadableFile",
    "Busy",
    "TimedOut",
    "Forbidden",
]
