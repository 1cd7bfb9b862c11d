"""Packaged model files: the real 1 GB GGUF is assembled from its 22 packages and verified."""

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from assistant import models
from assistant.models import ModelError
from assistant.settings import Settings


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 23):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def cache_dir():
    # Not tmp_path: pytest keeps the last three runs' temp folders, 1 GB each.
    with tempfile.TemporaryDirectory(prefix="assistant-models-") as d:
        yield d


def test_packaged_gguf_assembles_once_and_verifies(cache_dir, monkeypatch):
    assemblies = []
    real_part_paths = models._part_paths

    def counting_part_paths():
        assemblies.append(1)
        return real_part_paths()

    monkeypatch.setattr(models, "_part_paths", counting_part_paths)
    settings = Settings(model_cache=cache_dir)
    results, errors = [], []

    def worker():
        try:
            results.append(models.llm_model_path(settings))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    # Two callers at once: the file lock lets one assemble while the other waits.
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(assemblies) == 1
    path = Path(results[0])
    assert results == [str(path)] * 2
    assert path.name == models.QWEN_FILENAME and path.parent == Path(cache_dir).absolute()
    assert path.stat().st_size == 1117320768
    assert _sha256(path) == models.QWEN_SHA256
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".assembling-")] == []
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"


def test_second_call_is_instant_and_does_not_rehash(cache_dir, monkeypatch):
    settings = Settings(model_cache=cache_dir)
    models.llm_model_path(settings)  # assembled by the test above, or now

    def no_hashing(*_):
        raise AssertionError("re-hashed a verified file")

    monkeypatch.setattr(models, "_sha256_of", no_hashing)
    monkeypatch.setattr(models, "_part_paths", no_hashing)
    t0 = time.perf_counter()
    path = models.llm_model_path(settings)
    assert time.perf_counter() - t0 < 1.0
    assert Path(path).is_file()


def test_damaged_file_is_rebuilt(cache_dir):
    settings = Settings(model_cache=cache_dir)
    path = Path(models.llm_model_path(settings))
    with open(path, "r+b") as f:  # truncation changes the size the stamp recorded
        f.truncate(1000)
    assert Path(models.llm_model_path(settings)) == path
    assert path.stat().st_size == 1117320768
    assert _sha256(path) == models.QWEN_SHA256


def test_user_model_path_wins_and_missing_file_is_a_clear_error(tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert models.llm_model_path(Settings(llm_model=str(gguf))) == str(gguf)
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelError, match="not found") as e:
        models.llm_model_path(Settings(llm_model=str(missing)))
    assert str(missing) in str(e.value) and "\n" not in str(e.value)


def test_packaged_embedding_and_tiny_models_are_found():
    folder = Path(models.embedding_model_path(Settings()))
    assert (folder / "config.json").is_file()
    tiny = Path(models.tiny_llm_path())
    assert tiny.suffix == ".gguf" and tiny.stat().st_size > 50_000_000
    custom = Settings(embed_model=str(folder))
    assert models.embedding_model_path(custom) == str(folder)
    with pytest.raises(ModelError):
        models.embedding_model_path(Settings(embed_model="/no/such/folder"))


def test_prepare_models_skips_local_llm_when_a_server_is_configured():
    paths = models.prepare_models(Settings(llm_url="http://127.0.0.1:9/v1"))
    assert paths["llm_model"] == "" and Path(paths["embed_model"]).is_dir()
