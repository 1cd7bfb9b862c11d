"""The `assistant` command as a user runs it: JSON contract and one-line errors."""

import json
import os
import subprocess
import sys

import pytest
from conftest import SEED_QUESTION, SEEDS, free_port


def run(args, index_dir, extra_env=None, timeout=600):
    env = dict(os.environ, ASSISTANT_INDEX_DIR=str(index_dir), **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_no_index_yet_is_one_clear_line(tmp_path):
    r = run(["ask", "Anything?"], tmp_path / "nothing")
    assert r.returncode == 1 and "assistant ingest" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    index = tmp_path_factory.mktemp("cli-index")
    r = run(["ingest", str(SEEDS)], index)
    assert r.returncode == 0 and "1 added" in r.stdout, r.stderr
    return index


def test_ingest_again_is_unchanged_and_search_json(seeded):
    r = run(["ingest", str(SEEDS)], seeded)
    assert "1 unchanged" in r.stdout and "0 chunks embedded" in r.stdout
    r = run(["search", "Sanchez Ismayel", "--k", "2", "--json"], seeded)
    hits = json.loads(r.stdout)
    assert len(hits) == 2 and "Sanchez Ismayel" in hits[0]["text"] and hits[0]["score"] >= hits[1]["score"]


def test_empty_question_and_unreachable_llm_server_are_one_line_errors(seeded):
    r = run(["ask", "   "], seeded)
    assert r.returncode == 1 and "empty" in r.stderr and "Traceback" not in r.stderr
    r = run(
        ["ask", "Who is Anibal Sanchez Ismayel?", "--json"],
        seeded,
        {"ASSISTANT_LLM_URL": f"http://127.0.0.1:{free_port()}/v1"},
        timeout=120,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "127.0.0.1" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_show_prints_the_text_citations_index_into(seeded):
    src = str(next(SEEDS.iterdir()))
    r = run(["show", src], seeded)
    assert r.stdout == open(src, encoding="utf-8").read()


@pytest.mark.llm
def test_ask_json_contract(seeded):
    r = run(["ask", SEED_QUESTION, "--json"], seeded)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"question", "answer", "refused", "citations", "timings"}
    assert set(out["timings"]) >= {"retrieve_s", "first_token_s", "total_s"}
    assert not out["refused"] and out["citations"]
    for c in out["citations"]:
        assert set(c) >= {"n", "source", "title", "start", "end", "quote", "score"}
        assert open(c["source"], encoding="utf-8").read()[c["start"] : c["end"]] == c["quote"]


@pytest.mark.llm
def test_chat_understands_a_follow_up(seeded):
    env = dict(os.environ, ASSISTANT_INDEX_DIR=str(seeded))
    script = "What are U.S. military officials planning against Venezuela?\nHas Trump approved them?\n\n"
    r = subprocess.run(
        [sys.executable, "-m", "assistant", "chat"], input=script, env=env, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr
    understood = [ln for ln in r.stdout.splitlines() if "understood as:" in ln]
    assert understood, r.stdout
    assert "trump" in understood[0].lower() and ("strike" in understood[0].lower() or "plan" in understood[0].lower())
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- --doc (scope)
HARBOR = """Title: Kestrel harbor dredging
Source: Port Notes

The Kestrel harbor channel was dredged to a depth of 14 meters in June. The work cost the port 6 million euros.
"""


@pytest.fixture(scope="module")
def two_docs(tmp_path_factory):
    """An index of the seed article plus one small document written here, in its own folder."""
    root = tmp_path_factory.mktemp("cli-scope")
    (root / "port").mkdir()
    (root / "port" / "harbor.txt").write_text(HARBOR, encoding="utf-8")
    index = root / "index"
    r = run(["ingest", str(SEEDS), str(root / "port")], index)
    assert r.returncode == 0 and "2 added" in r.stdout, r.stderr
    return index, root / "port" / "harbor.txt"


def test_doc_limits_search_and_ask_json_shows_the_scope(two_docs):
    index, harbor = two_docs
    r = run(["search", "drone strikes in Venezuela", "--doc", str(harbor.parent), "--json"], index)
    assert r.returncode == 0, r.stderr
    assert {h["source"] for h in json.loads(r.stdout)} == {str(harbor)}
    # refused before any LLM is loaded (no passage shares enough with it), so this stays fast
    r = run(["ask", "What did Nepal's mountaineers climb?", "--doc", str(harbor), "--doc", str(SEEDS), "--json"], index)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["refused"] and out["scope"] == sorted([str(harbor), str(next(SEEDS.iterdir()))])


def test_doc_that_matches_nothing_is_one_line_error(two_docs):
    index, harbor = two_docs
    for cmd in (["ask", "Anything?"], ["search", "anything"]):
        r = run([*cmd, "--doc", "nowhere.txt"], index)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert (
            len(r.stderr.strip().splitlines()) == 1 and "nowhere.txt" in r.stderr and "assistant documents" in r.stderr
        )
    env = dict(os.environ, ASSISTANT_INDEX_DIR=str(index))
    r = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "--doc", str(harbor)],
        input="\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0 and "within 1 document: harbor.txt" in r.stdout, r.stderr


@pytest.mark.llm
def test_ask_with_doc_cites_only_that_file(two_docs):
    index, _ = two_docs
    seed = str(next(SEEDS.iterdir()))
    r = run(["ask", SEED_QUESTION, "--doc", seed, "--json"], index)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out["refused"] and out["citations"] and out["scope"] == [seed]
    assert all(c["source"] == seed for c in out["citations"])


# --------------------------------------------------------------------------- --collection
FERRY = """Title: Vellmar ferry timetable

The Vellmar ferry crosses the lake every forty minutes in summer and every two hours in winter.
"""


def test_collection_option_keeps_collections_apart_and_collections_lists_them(tmp_path):
    (tmp_path / "lake").mkdir()
    ferry = tmp_path / "lake" / "ferry.txt"
    ferry.write_text(FERRY, encoding="utf-8")
    index = tmp_path / "index"
    r = run(["ingest", str(SEEDS)], index)
    assert r.returncode == 0, r.stderr
    r = run(["ingest", str(ferry.parent), "--collection", "lake-notes"], index)
    assert r.returncode == 0 and "1 added" in r.stdout, r.stderr

    r = run(["search", "How often does the ferry cross the lake?", "--collection", "lake-notes", "--json"], index)
    assert r.returncode == 0, r.stderr
    assert {h["source"] for h in json.loads(r.stdout)} == {str(ferry)}
    r = run(["search", "How often does the ferry cross the lake?", "--json"], index)  # the default collection
    assert str(ferry) not in {h["source"] for h in json.loads(r.stdout)}
    r = run(["documents", "--collection", "lake-notes", "--json"], index)
    assert [d["source"] for d in json.loads(r.stdout)] == [str(ferry)]

    r = run(["collections", "--json"], index)
    assert r.returncode == 0, r.stderr
    rows = {c["name"]: c for c in json.loads(r.stdout)}
    assert set(rows) == {"documents", "lake-notes"}
    assert rows["lake-notes"]["documents"] == 1 and rows["lake-notes"]["chunks"] >= 1
    r = run(["collections"], index)
    assert "lake-notes" in r.stdout and "(default)" in r.stdout and "2 collections" in r.stdout

    r = run(["remove", str(ferry), "--collection", "lake-notes"], index)
    assert r.returncode == 0, r.stderr
    r = run(["collections", "--json"], index)
    assert {c["name"]: c["documents"] for c in json.loads(r.stdout)}["lake-notes"] == 0


def test_a_missing_or_invalid_collection_is_one_line_error(seeded):
    r = run(["ask", "How often does the ferry run?", "--collection", "minutes"], seeded)
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "assistant ingest DIR --collection minutes" in r.stderr
    r = run(["search", "ferry", "--collection", "my minutes"], seeded)
    assert r.returncode == 1 and "invalid collection name 'my minutes'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(["collections", "--json"], seeded)
    assert [c["name"] for c in json.loads(r.stdout)] == ["documents"]  # asking created nothing


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(tmp_path, monkeypatch, capsys):
    from assistant import cli

    def boom(args):
        raise RuntimeError("the flux capacitor\nmelted")

    monkeypatch.setenv("ASSISTANT_MODEL_CACHE", str(tmp_path))
    monkeypatch.delenv("ASSISTANT_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_config", boom)
    assert cli.main(["config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unexpected RuntimeError: the flux capacitor melted" in err[0] and "errors.log" in err[0]
    log = (tmp_path / "errors.log").read_text()
    assert "Traceback" in log and "boom" in log
