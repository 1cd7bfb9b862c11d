"""One settings object for the whole assistant.

Values come from, in order of precedence: keyword arguments, ``ASSISTANT_*`` environment
variables, a TOML file (``ASSISTANT_CONFIG`` or ``./assistant.toml``), and defaults that work
offline on a laptop (embedded ChromaDB in ``index/``, packaged MiniLM, packaged Qwen GGUF).
Switching to servers is configuration only: ``ASSISTANT_CHROMA_URL`` and ``ASSISTANT_LLM_URL``.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from .errors import SettingsError


# Values outside these ranges cannot work (top_k=0 would mean "every passage" to Chroma).
_RANGES = {
    "llm_timeout_s": (1, 86_400), "threads": (1, 1024), "n_ctx": (512, 1_048_576), "chunk_tokens": (16, 256),
    "top_k": (1, 200), "context_sentences": (1, 100), "max_answer_tokens": (1, 32_768), "temperature": (0.0, 2.0),
    "port": (0, 65_535),
}


@dataclass
class Settings:
    index_dir: str = "index"  # embedded ChromaDB folder (ASSISTANT_INDEX_DIR)
    chroma_url: str = ""  # http://host:port of a Chroma server; empty = embedded
    collection: str = "documents"
    embed_model: str = ""  # a sentence-transformers folder; empty = packaged all-MiniLM-L6-v2
    llm_model: str = ""  # a GGUF file; empty = packaged Qwen2.5-Coder-1.5B-Instruct Q4_K_M
    llm_url: str = ""  # OpenAI-compatible base URL (http://host:port/v1); overrides llm_model
    llm_name: str = "default"  # model name sent to the OpenAI-compatible server
    llm_api_key: str = "not-needed"
    llm_timeout_s: float = 120.0
    model_cache: str = str(Path.home() / ".cache" / "assistant")  # assembled GGUF lives here
    threads: int = max(1, os.cpu_count() or 1)
    n_ctx: int = 4096
    chunk_tokens: int = 200  # <= 256: MiniLM reads only the first 256 word pieces
    top_k: int = 10  # passages shown by search and used to pick evidence
    context_sentences: int = 8  # evidence sentences the LLM sees: keeps the prompt short
    max_answer_tokens: int = 200
    temperature: float = 0.0
    auth: str = ""  # "user:password" turns on login in the web app
    api_keys: str = ""  # comma-separated bearer keys the /v1 OpenAI-compatible API requires; empty = none
    upload_dir: str = ""  # empty = <index_dir>/uploads
    host: str = "127.0.0.1"
    port: int = 7860

    def __post_init__(self):
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                env = "ASSISTANT_" + name.upper()
                raise SettingsError(f"setting {name} ({env}) = {value!r} is out of range: it must be between {low} and {high}")

    @classmethod
    def load(cls, **overrides) -> "Settings":
        values: dict = {}
        config = os.environ.get("ASSISTANT_CONFIG") or "assistant.toml"
        if Path(config).is_file():
            with open(config, "rb") as f:
                values.update(tomllib.load(f).get("assistant", {}))
        for f in fields(cls):
            env = os.environ.get("ASSISTANT_" + f.name.upper())
            if env is not None and env != "":
                values[f.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        typed = {}
        for name, value in values.items():
            kind = type(getattr(cls(), name)) if known[name].default is not None else str
            try:
                typed[name] = kind(value)
            except ValueError:
                raise SettingsError(f"setting {name}={value!r} is not a valid {kind.__name__}") from None
        return cls(**typed)

    @property
    def uploads(self) -> Path:
        return Path(self.upload_dir or Path(self.index_dir) / "uploads")
