"""The embedders: in-process MiniLM, and an OpenAI-compatible embeddings server (ASSISTANT_EMBED_URL).

The server tests run against a real infinity-emb started here (its own venv, ``make infinity``),
serving the packaged MiniLM folder offline: its vectors must be the in-process model's, an
index written by either must open with the other, and an index of another model must be
refused. A down server and a server answering errors are checked against a dead port and a
tiny stdlib HTTP server that answers what the test tells it (a unit test of the error paths).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from conftest import ROOT, SEED_FILE, free_port

sys.path.insert(0, str(ROOT))  # benchmarks/ (where the infinity-emb launcher lives) is not an installed package
from benchmarks.embed_server import VENV, Infinity, infinity_exe  # noqa: E402

SENTENCES = [
    "The lighthouse keeper logged three ships before the fog rolled in.",
    "A sourdough starter needs flour, water and a warm kitchen.",
    "Le train de nuit part de Vienne à vingt-deux heures.",
    "Quarterly revenue rose by four percent despite the strike.",
]


def _settings(**kw):
    from assistant.settings import Settings

    return Settings.load(**kw)


# --------------------------------------------------------------------------- error paths (a stub server)


class _Stub(BaseHTTPRequestHandler):
    """POST /embeddings answered with the status and body the test set on the server object."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)  # type: ignore[attr-defined]
        status, payload = self.server.reply(body)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _vectors(body, dim=3):
    """An OpenAI embeddings answer: text i gets the vector (i+1, 2, 0...), unnormalized, in reverse order."""
    data = [
        {"object": "embedding", "index": i, "embedding": [i + 1.0, 2.0] + [0.0] * (dim - 2)}
        for i in range(len(body["input"]))
    ]
    return 200, {
        "object": "list",
        "model": body["model"],
        "data": data[::-1],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


def test_server_embedder_batches_orders_and_normalizes(stub):
    from assistant.embed import ServerEmbedder

    stub.reply = _vectors
    url = f"http://127.0.0.1:{stub.server_port}"
    e = ServerEmbedder(_settings(embed_url=url, embed_name="my-model", embed_batch=2))
    vecs = e.embed(["one", "two", "three", "", "five"])
    assert [len(r["input"]) for r in stub.requests] == [2, 2, 1]  # embed_batch texts per request
    assert all(r["model"] == "my-model" and r["encoding_format"] == "float" for r in stub.requests)
    assert stub.requests[1]["input"] == ["three", " "]  # an empty text is sent as a space
    assert vecs.shape == (5, 3)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)  # unit length whatever the server sends
    # The data came back in reverse order: rows follow the index field, not the order of the list.
    assert np.allclose(vecs[1], np.array([2.0, 2.0, 0.0]) / np.sqrt(8))
    assert e.name == f"my-model at {url}"


@pytest.mark.parametrize(
    "status, payload, needles",
    [
        (404, {"detail": "Not Found"}, ["HTTP 404", "ASSISTANT_EMBED_URL", "ASSISTANT_EMBED_NAME"]),
        (400, {"error": {"message": "model nope not served"}}, ["HTTP 400", "model nope not served", "'nope'"]),
        (401, {"error": {"message": "bad key"}}, ["HTTP 401", "ASSISTANT_EMBED_API_KEY"]),
    ],
)
def test_server_errors_are_one_line_naming_url_and_setting(stub, status, payload, needles):
    from assistant.embed import ServerEmbedder
    from assistant.errors import AssistantError, EmbedderError

    stub.reply = lambda body: (status, payload)
    url = f"http://127.0.0.1:{stub.server_port}"
    with pytest.raises(EmbedderError) as err:
        ServerEmbedder(_settings(embed_url=url, embed_name="nope")).embed(["hello"])
    message = str(err.value)
    assert isinstance(err.value, AssistantError) and "\n" not in message and url in message
    for needle in needles:
        assert needle in message, message


def test_wrong_number_of_vectors_is_an_error(stub):
    from assistant.embed import ServerEmbedder
    from assistant.errors import EmbedderError

    stub.reply = lambda body: (
        200,
        {"object": "list", "model": "m", "data": [], "usage": {"prompt_tokens": 0, "total_tokens": 0}},
    )
    with pytest.raises(EmbedderError, match="0 embeddings for 2 texts"):
        ServerEmbedder(_settings(embed_url=f"http://127.0.0.1:{stub.server_port}")).embed(["a", "b"])


def test_down_server_is_one_clear_error_from_the_api_and_the_cli(tmp_path, corpus):
    from test_server_mode import assert_one_line_error, run_cli

    from assistant import Assistant
    from assistant.errors import EmbedderError

    dead = f"http://127.0.0.1:{free_port()}"
    a = Assistant(_settings(index_dir=str(tmp_path / "index"), embed_url=dead))
    with pytest.raises(EmbedderError) as err:
        a.ingest(str(corpus))
    message = str(err.value)
    assert dead in message and "unreachable" in message and "ASSISTANT_EMBED_URL" in message and "\n" not in message

    env = {"ASSISTANT_INDEX_DIR": str(tmp_path / "index"), "ASSISTANT_EMBED_URL": dead}
    assert_one_line_error(run_cli("ingest", str(corpus), env=env, cwd=tmp_path), dead, "unreachable")


def test_settings_default_to_the_in_process_model():
    from assistant import Assistant
    from assistant.embed import Embedder

    assert type(Assistant(_settings()).embedder) is Embedder
    assert _settings().shown()["embed_api_key"] == "not-needed"
    assert _settings(embed_api_key="s3cret").shown()["embed_api_key"] == "****"


# --------------------------------------------------------------------------- a real infinity-emb


@pytest.fixture(scope="module")
def infinity(tmp_path_factory):
    if infinity_exe() is None:
        pytest.skip(f"infinity-emb's venv is missing at {VENV}: run `make infinity` (CI does)")
    from assistant.models import embedding_model_path

    server = Infinity(embedding_model_path(_settings()), tmp_path_factory.mktemp("infinity")).start()
    yield server
    server.stop()


def test_infinity_serves_the_same_vectors_as_the_in_process_model(infinity, shared_embedder):
    from assistant.embed import ServerEmbedder

    remote = ServerEmbedder(_settings(embed_url=infinity.url, embed_name=infinity.name, embed_batch=3))
    got = remote.embed(SENTENCES)
    want = shared_embedder.embed(SENTENCES)
    assert got.shape == want.shape == (len(SENTENCES), 384)
    cos = np.sum(got * want, axis=1)
    assert cos.min() > 0.999, cos
    # ... and not merely similar sentences: each vector is closest to its own sentence's.
    assert list(np.argmax(got @ want.T, axis=1)) == list(range(len(SENTENCES)))


def test_index_moves_between_in_process_and_server_and_another_model_is_refused(infinity, tmp_path, shared_embedder):
    from assistant import Assistant
    from assistant.embed import ServerEmbedder
    from assistant.errors import IndexNotReady

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferry.md").write_text(
        "# Ferry timetable\n\nThe harbour ferry to Vollmark leaves at seven and returns at noon. "
        "Bicycles travel free on the upper deck.\n",
        encoding="utf-8",
    )
    remote = dict(embed_url=infinity.url, embed_name=infinity.name)

    # Written through the server, searched in-process: the same model, recognised by its vectors.
    served = Assistant(_settings(index_dir=str(tmp_path / "a"), **remote))
    assert isinstance(served.embedder, ServerEmbedder)
    report = served.ingest(str(corpus))
    assert report.chunks >= 1
    hits = served.search("When does the ferry to Vollmark leave?", 3)
    assert hits and "Vollmark" in hits[0].chunk.text and hits[0].dense > 0.4
    local = Assistant(_settings(index_dir=str(tmp_path / "a")))
    local.embedder = shared_embedder
    again = local.search("When does the ferry to Vollmark leave?", 3)
    assert again[0].chunk.id == hits[0].chunk.id and abs(again[0].dense - hits[0].dense) < 0.01

    # Written in-process, used through the server: the unchanged re-ingest embeds nothing.
    b = Assistant(_settings(index_dir=str(tmp_path / "b")))
    b.embedder = shared_embedder
    b.ingest(str(corpus))
    assert Assistant(_settings(index_dir=str(tmp_path / "b"), **remote)).ingest(str(corpus)).chunks == 0

    # An index of another model (here: another 384-d embedder) is refused through the server.
    class Other:
        name = "another-model"

        def embed(self, texts, batch_size=32):
            rng = np.random.default_rng(7)
            v = rng.normal(size=(len(texts), 384)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    c = Assistant(_settings(index_dir=str(tmp_path / "c")))
    c.embedder = Other()
    c.ingest(str(corpus))
    with pytest.raises(IndexNotReady, match="another-model.*--rebuild"):
        Assistant(_settings(index_dir=str(tmp_path / "c"), **remote)).search("ferry", 3)


def test_cli_ingest_and_search_through_infinity(infinity, tmp_path):
    from test_server_mode import run_cli

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED_FILE.name).write_bytes(SEED_FILE.read_bytes())
    env = {
        "ASSISTANT_INDEX_DIR": str(tmp_path / "index"),
        "ASSISTANT_EMBED_URL": infinity.url,
        "ASSISTANT_EMBED_NAME": infinity.name,
    }
    proc = run_cli("ingest", str(corpus), "--json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chunks"] > 0
    proc = run_cli("search", "strikes", "--json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "strike" in json.dumps(json.loads(proc.stdout)).lower()
