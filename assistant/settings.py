"""One settings object for the whole assistant, each setting described, typed and checked.

Values come from, in order of precedence: keyword arguments, ``ASSISTANT_*`` environment
variables, a TOML file (``ASSISTANT_CONFIG`` or ``./assistant.toml``, table ``[assistant]``),
and defaults that work offline on a laptop (embedded ChromaDB in ``index/``, packaged MiniLM,
packaged Qwen GGUF). Switching to servers is configuration only: ``ASSISTANT_CHROMA_URL``,
``ASSISTANT_EMBED_URL``, ``ASSISTANT_LLM_URL``.

Design: pydantic-settings does the reading and the validation (types, ranges, unknown keys), so
a bad value fails at start with a message naming the variable, not deep inside Chroma or the
LLM. Every field's description and group are the documentation: ``assistant config`` prints
them with the effective values, and the README's configuration table is generated from them
(``markdown_table``, run by cog; ``make test`` fails when the table is stale). Secrets are
``SecretStr``-free plain strings on purpose: the code passes them to other libraries as text;
``SECRETS`` lists the fields shown masked.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import SettingsError

ENV_PREFIX = "ASSISTANT_"
SECRETS = ("llm_api_key", "embed_api_key", "auth", "api_keys")
GROUPS = ("index", "retrieval", "llm", "web")


def _field(default: Any, group: str, description: str, **checks: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"group": group}, **checks)


class _TomlTable(PydanticBaseSettingsSource):
    """The ``[assistant]`` table of ``ASSISTANT_CONFIG`` (or ``./assistant.toml`` when it exists)."""

    def get_field_value(self, field, field_name):  # required by the base class; __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get(ENV_PREFIX + "CONFIG") or "assistant.toml")
        if not path.is_file():
            return {}
        try:
            with open(path, "rb") as f:
                return dict(tomllib.load(f).get("assistant", {}))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SettingsError(f"cannot read the settings file {path}: {e}") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", validate_assignment=True
    )

    # -- index ---------------------------------------------------------------------------
    index_dir: str = _field("index", "index", "Folder of the embedded ChromaDB index.")
    chroma_url: str = _field(
        "", "index", "http://host:port of a Chroma server; empty = the embedded index in index_dir."
    )
    collection: str = _field("documents", "index", "Chroma collection that holds the chunks.", min_length=3)
    embed_model: str = _field(
        "",
        "index",
        "A sentence-transformers model folder; empty = the packaged all-MiniLM-L6-v2. "
        "Changing it needs `assistant ingest --rebuild`.",
    )
    embed_url: str = _field(
        "",
        "index",
        "Base URL of an OpenAI-compatible embeddings server (texts go to <url>/embeddings); "
        "overrides embed_model. The same model served there is recognised as the same index.",
    )
    embed_name: str = _field(
        "default", "index", "Model name sent to the embeddings server (infinity-emb: its --served-model-name)."
    )
    embed_api_key: str = _field("not-needed", "index", "API key sent to the embeddings server.")
    embed_batch: int = _field(64, "index", "Texts per request to the embeddings server.", ge=1, le=4096)
    embed_timeout_s: float = _field(
        60.0, "index", "Seconds to wait for one batch from the embeddings server.", ge=1, le=86_400
    )
    chunk_tokens: int = _field(
        200,
        "index",
        "Chunk size in estimated word pieces (MiniLM reads only the first 256). "
        "A new value re-chunks each file at its next ingest.",
        ge=16,
        le=256,
    )
    upload_dir: str = _field("", "index", "Where the web app saves uploads; empty = <index_dir>/uploads.")
    feedback_file: str = _field(
        "",
        "index",
        "JSONL file of the web app's thumbs up/down (read by `assistant feedback`); "
        "empty = <index_dir>/feedback.jsonl.",
    )
    watch_debounce_ms: int = _field(
        500,
        "index",
        "With `--watch`: quiet time (ms) after a file change before the index is re-synced; "
        "a burst of changes is one sync.",
        ge=50,
        le=60_000,
    )

    # -- retrieval -----------------------------------------------------------------------
    top_k: int = _field(10, "retrieval", "Passages shown by search and used to pick evidence.", ge=1, le=200)
    context_sentences: int = _field(
        8, "retrieval", "Evidence sentences the LLM sees (keeps the prompt short).", ge=1, le=100
    )

    # -- llm -----------------------------------------------------------------------------
    llm_model: str = _field(
        "", "llm", "A GGUF file for the embedded LLM; empty = the packaged Qwen2.5-Coder-1.5B-Instruct Q4_K_M."
    )
    llm_url: str = _field(
        "", "llm", "Base URL of an OpenAI-compatible server (http://host:port/v1); overrides llm_model."
    )
    llm_name: str = _field("default", "llm", "Model name sent to the OpenAI-compatible server.")
    llm_api_key: str = _field("not-needed", "llm", "API key sent to the OpenAI-compatible server.")
    llm_timeout_s: float = _field(120.0, "llm", "Seconds to wait for the LLM server before giving up.", ge=1, le=86_400)
    model_cache: str = _field(
        str(Path.home() / ".cache" / "assistant"), "llm", "Where the packaged GGUF is assembled (about 1 GB, once)."
    )
    threads: int = _field(
        max(1, os.cpu_count() or 1), "llm", "CPU threads for the embedded LLM and the embedder.", ge=1, le=1024
    )
    n_ctx: int = _field(4096, "llm", "Context window of the embedded LLM, in tokens.", ge=512, le=1_048_576)
    max_answer_tokens: int = _field(200, "llm", "Longest answer draft, in tokens.", ge=1, le=32_768)
    temperature: float = _field(0.0, "llm", "Sampling temperature (0 = the same answer every time).", ge=0.0, le=2.0)

    # -- web -----------------------------------------------------------------------------
    host: str = _field("127.0.0.1", "web", "Address the web app binds; 0.0.0.0 exposes it to other machines.")
    port: int = _field(7860, "web", "Port of the web app and its HTTP APIs.", ge=0, le=65_535)
    auth: str = _field(
        "", "web", '"user:password" turns on login in the web app (ignored once `assistant users` has a user).'
    )
    api_keys: str = _field(
        "", "web", "Comma-separated bearer keys the /v1 OpenAI-compatible API requires; empty = no key needed."
    )
    users_file: str = _field(
        "",
        "web",
        "JSON file of the accounts (`assistant users`); empty = <index_dir>/users.json. With a user in it, "
        "the web app and /v1 require a login or key, and each user has a private collection.",
    )
    answer_concurrency: int = _field(
        1,
        "web",
        "Answers generated at once (web app and /v1 together); 1 for the embedded LLM, "
        "the server's parallel slots for an llm_url server.",
        ge=1,
        le=256,
    )
    max_queue: int = _field(
        30,
        "web",
        "Questions that may wait for an answer; beyond this a question is refused at once (busy).",
        ge=0,
        le=10_000,
    )
    answer_timeout_s: float = _field(
        600.0, "web", "Seconds a question may take, waiting in line included, before it is given up.", ge=1, le=86_400
    )
    cache_size: int = _field(
        256, "web", "Answers kept for identical questions on an unchanged index; 0 = no answer cache.", ge=0, le=100_000
    )
    login_attempts: int = _field(
        5,
        "web",
        "Failed logins allowed per user name within login_lockout_s; one more and that name waits "
        "(four times as many per client address).",
        ge=1,
        le=1000,
    )
    login_lockout_s: float = _field(
        300.0, "web", "Seconds a name or address waits after too many failed logins.", ge=1, le=86_400
    )
    history_turns: int = _field(
        20,
        "web",
        "Questions and answers a chat session keeps (older ones leave the page, the follow-up "
        "context and the export): bounds each session's memory.",
        ge=1,
        le=1000,
    )
    max_sessions: int = _field(
        1000,
        "web",
        "Browser sessions whose conversation the web app keeps in memory; beyond this the least "
        "recently used one is forgotten.",
        ge=1,
        le=1_000_000,
    )
    text_cache_mb: float = _field(
        64.0,
        "web",
        "Megabytes of document text the web app keeps in memory to show citations in their document.",
        ge=0,
        le=100_000,
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return init_settings, env_settings, _TomlTable(settings_cls)

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise SettingsError(_one_line(e)) from None

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from the environment and files; keyword arguments win (``None`` means "not given")."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})

    @property
    def uploads(self) -> Path:
        return Path(self.upload_dir or Path(self.index_dir) / "uploads")

    @property
    def feedback(self) -> Path:
        return Path(self.feedback_file or Path(self.index_dir) / "feedback.jsonl")

    @property
    def users(self) -> Path:
        return Path(self.users_file or Path(self.index_dir) / "users.json")

    def shown(self) -> dict[str, Any]:
        """The effective values with secrets masked: what ``assistant config`` prints."""
        return {
            name: ("****" if name in SECRETS and value and value != "not-needed" else value)
            for name, value in self.model_dump().items()
        }


def _one_line(e: ValidationError) -> str:
    problems = []
    for err in e.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown setting {name!r}")
        else:
            problems.append(f"setting {name} ({ENV_PREFIX}{name.upper()}) = {err.get('input')!r}: {err['msg']}")
    return "; ".join(problems)


def describe() -> list[dict[str, Any]]:
    """One row per setting: name, variable, type, default, group, description."""
    rows = []
    for name, f in Settings.model_fields.items():
        default = f.default
        if name == "threads":
            default = "number of CPUs"
        elif name == "model_cache":
            default = "~/.cache/assistant"
        rows.append(
            {
                "name": name,
                "env": ENV_PREFIX + name.upper(),
                "type": f.annotation.__name__ if isinstance(f.annotation, type) else str(f.annotation),
                "default": default,
                "group": f.json_schema_extra.get("group", "") if isinstance(f.json_schema_extra, dict) else "",
                "description": f.description or "",
            }
        )
    return rows


def _md(text: str) -> str:
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def markdown_table() -> str:
    """The README's configuration table (generated: run `cog -r README.md` after changing a setting)."""
    lines = ["| Variable | Default | Description |", "|---|---|---|"]
    for group in GROUPS:
        for row in (r for r in describe() if r["group"] == group):
            default = f"`{row['default']}`" if row["default"] != "" else "(empty)"
            lines.append(f"| `{row['env']}` | {default} | {_md(row['description'])} |")
    return "\n".join(lines) + "\n"
