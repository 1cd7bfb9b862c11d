"""Shared fixtures: real models, real Chroma, each test's index in its own temporary folder.

The embedded 1.5B LLM is loaded once per session (``assistant_llm``) because loading and
warming it costs seconds; tests that only need *an* LLM use the tiny SmolLM2 instead.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import pytest

import assistant  # noqa: E402,F401  (sets the offline environment, see assistant.ENVIRONMENT)

for var in list(os.environ):  # a developer's own settings must not leak into tests
    if var.startswith("ASSISTANT_"):
        del os.environ[var]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_e58740dbd93eda86.txt"


def _shared_dir() -> Path:
    """The team's shared folder (evaluation data): beside the checkout, or where it lives on
    these machines; ASSISTANT_TEST_SHARED overrides. Tests that need it skip when it is absent."""
    for cand in (os.environ.get("ASSISTANT_TEST_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if cand and (Path(cand) / "eval").is_dir():
            return Path(cand)
    return ROOT.parent / "shared"


SHARED = _shared_dir()
SEED_QUESTION = "Has Trump authorized the strikes?"


class EchoLLM:
    """Repeats the first numbered source sentence of its prompt, cited, and its judge accepts
    everything: an answer then holds only what retrieval let through (for the user, the collection)
    and costs no generation time. For tests of who sees what, not of answer quality."""

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None):
        lines = re.findall(r"^\[(\d+)\] (.+)$", messages[-1]["content"], flags=re.M)
        if not lines:
            yield "I could not find the answer in the documents."
            return
        n, text = lines[0]
        yield text.rstrip(".") + f" [{n}]."

    def complete(self, messages, **kw):
        return "".join(self.stream(messages))

    def yes_probability(self, messages):
        return 0.9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings(tmp_path):
    from assistant.settings import Settings

    return Settings.load(index_dir=str(tmp_path / "index"))


@pytest.fixture
def corpus(tmp_path):
    """A private copy of the seed corpus that tests may change."""
    d = tmp_path / "corpus"
    d.mkdir()
    shutil.copy(SEED_FILE, d / SEED_FILE.name)
    return d


@pytest.fixture(scope="session")
def shared_embedder():
    from assistant.embed import Embedder
    from assistant.settings import Settings

    return Embedder(Settings.load())


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory, shared_embedder):
    """An Assistant over the seed article with the real embedded LLM, shared by the slow tests."""
    from assistant import Assistant
    from assistant.settings import Settings

    a = Assistant(Settings.load(index_dir=str(tmp_path_factory.mktemp("seed-index"))))
    a.embedder = shared_embedder
    a.ingest(str(SEEDS))
    return a
