"""The web app over HTTP: a real Gradio server on a loopback port, real models, gradio_client.

Only two questions reach the 1.5B LLM (the seed question and one that is refused before it);
the rest checks uploads, escaping, errors and login without generating anything.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402
import httpx  # noqa: E402
from gradio_client import Client  # noqa: E402

from assistant import REFUSAL, Assistant, Settings  # noqa: E402
from assistant.web import add_uploads, build_app, esc, evidence_html, launch, md_escape, render_answer, safe_filename  # noqa: E402

SEED_QUESTION = "Has Trump authorized the strikes?"
# Gradio's local queue statistics use a pandas option pandas deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app launched in this process (prevent_thread_lock) on a free loopback port."""

    def __init__(self, assistant, auth=None):
        self.app = build_app(assistant)
        self.port = free_port()
        launch(self.app, "127.0.0.1", self.port, auth=auth, prevent_thread_lock=True)
        self.url = f"http://127.0.0.1:{self.port}/"

    def close(self):
        self.app.close()


@pytest.fixture(scope="module")
def seed_server(seed_assistant):
    server = Server(seed_assistant)
    yield server
    server.close()


@pytest.fixture
def fresh_assistant(tmp_path, shared_embedder):
    """An Assistant over an empty temporary index (its own upload folder); no LLM is loaded."""
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    return a


# --------------------------------------------------------------------------- unit: names, escaping


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("/abs/path/report.pdf", "report.pdf"),
        (".bashrc", "bashrc"),
        ("..", "upload"),
        ("", "upload"),
        ("a<b>|c\x00d.md", "a_b__cd.md"),
        ("notes 2024 (final).txt", "notes 2024 (final).txt"),
        ("Été.md", "Été.md"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_safe_filename_is_a_plain_bounded_name():
    for evil in ("../" * 50 + "x.txt", "a/" * 300 + "b" * 500 + ".docx", "\u202e.txt", "con/../../.."):
        name = safe_filename(evil)
        assert name and "/" not in name and "\\" not in name and not name.startswith(".")
        assert len(name) <= 120


def test_answer_markdown_escapes_text_and_links_citations():
    md = render_answer("Strikes <img src=x onerror=alert(1)> are *not* authorized [1][2].", turn=3)
    assert "<img" not in md and "&lt;img" in md
    assert r"\*not\*" in md  # Markdown cannot format (or link) document text
    assert '<a href="#cite-3-1" class="cite">&#91;1&#93;</a>' in md
    assert 'href="#cite-3-2"' in md
    assert esc("${x} {{y}} `z`") == "&#36;&#123;x&#125; &#123;&#123;y&#125;&#125; &#96;z&#96;"
    assert md_escape("[a](javascript:x)").startswith(r"\[a\]\(")
    assert md_escape("> a <b> & c") == "&gt; a &lt;b&gt; &amp; c"  # no backslash before an entity


def test_evidence_highlights_the_exact_quote_and_escapes_the_document(tmp_path):
    doc = tmp_path / "evil.txt"
    text = "Intro <script>alert(1)</script>.\nThe zebra festival takes place on 12 May. More ${text} here."
    doc.write_text(text, encoding="utf-8")
    start = text.index("The zebra")
    end = text.index("May.") + 4
    out = evidence_html(
        {
            "source": str(doc),
            "title": "<b>T</b>",
            "date": "2026-01-01",
            "start": start,
            "end": end,
            "quote": text[start:end],
        },
        "[1]",
    )
    assert "<mark>The zebra festival takes place on 12 May.</mark>" in out
    assert '<mark class="doc-mark">The zebra festival takes place on 12 May.</mark>' in out
    assert "<script>" not in out and "<b>T</b>" not in out and "${" not in out
    assert "Show whole document" in out
    # A document changed since indexing is reported, not mis-highlighted.
    doc.write_text("something else entirely " * 10, encoding="utf-8")
    stale = evidence_html(
        {"source": str(doc), "title": "T", "date": "", "start": start, "end": end, "quote": text[start:end]}, "[1]"
    )
    assert "changed since it was indexed" in stale


def test_a_pdf_citation_shows_its_page_beside_the_title(tmp_path):
    from assistant.web import sources_line

    doc = tmp_path / "ferry.txt"  # any readable file: the panel only slices its text
    text = "The ferry leaves at noon. It returns at six."
    doc.write_text(text, encoding="utf-8")
    cite = {
        "n": 1,
        "source": str(doc),
        "title": "Ferry times",
        "date": "2025-02-01",
        "start": 0,
        "end": 25,
        "quote": text[:25],
        "page": 12,
    }
    assert "&#91;1&#93; Ferry times · p. 12</a>" in sources_line(0, [cite])
    assert "p. 12" in evidence_html(cite, "[1]")
    no_page = {**cite, "page": None}
    assert "p." not in sources_line(0, [no_page]) and " · p. " not in evidence_html(no_page, "[1]")


# --------------------------------------------------------------------------- uploads


def test_upload_lands_inside_upload_folder_and_is_searchable(fresh_assistant, tmp_path):
    src = tmp_path / "incoming"
    src.mkdir()
    good = src / "good.txt"
    good.write_text("The zebra festival in Utrecht takes place on 12 May.\n", encoding="utf-8")
    empty = src / "empty.txt"
    empty.write_text("", encoding="utf-8")
    binary = src / "tool.exe"
    binary.write_bytes(b"MZ\x00\x00")
    outside = tmp_path / "etc" / "passwd.txt"

    result = add_uploads(fresh_assistant, [(good, "../../etc/passwd.txt"), (empty, "empty.txt"), (binary, "tool.exe")])

    uploads = Path(fresh_assistant.settings.uploads).resolve()
    assert [p.resolve() for p in result.saved] == [uploads / "passwd.txt"]
    assert not outside.exists()
    assert sorted(os.listdir(uploads)) == ["passwd.txt"]  # skipped files are not kept
    assert [Path(s).name for s in result.added] == ["passwd.txt"]
    reasons = dict(result.skipped)
    assert "unsupported file type" in reasons["tool.exe"]
    assert reasons["empty.txt"]  # ingest's own reason, shown to the user
    assert "Skipped" in result.markdown() and "Indexed" in result.markdown()
    docs = fresh_assistant.documents()
    assert [Path(d["source"]).resolve() for d in docs] == [uploads / "passwd.txt"]
    hits = fresh_assistant.search("When is the zebra festival in Utrecht?", 3)
    assert hits and "zebra festival" in hits[0].chunk.text


def test_an_upload_never_overwrites_a_different_file_of_the_same_name(fresh_assistant, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "report.md").write_text("# Tram depot\n\nThe tram depot opens at five in the morning.\n", encoding="utf-8")
    (second / "report.md").write_text(
        "# Bakery\n\nThe bakery on Lindenstrasse sells rye bread on Fridays.\n", encoding="utf-8"
    )
    uploads = Path(fresh_assistant.settings.uploads)

    add_uploads(fresh_assistant, [first / "report.md"])
    result = add_uploads(fresh_assistant, [second / "report.md"])
    assert result.notes == ["report.md existed; saved as report (2).md"]
    assert r"report.md existed; saved as report \(2\).md" in result.markdown()  # Markdown-escaped
    assert sorted(os.listdir(uploads)) == ["report (2).md", "report.md"]
    assert (uploads / "report.md").read_bytes() == (first / "report.md").read_bytes()  # the first one is intact
    assert sorted(d["title"] for d in fresh_assistant.documents()) == ["Bakery", "Tram depot"]

    # The same bytes again, under either name's content: already indexed, nothing changes.
    before = fresh_assistant.documents()
    for again, saved_as in ((first / "report.md", "report.md"), (second / "report.md", "report (2).md")):
        result = add_uploads(fresh_assistant, [again])
        assert result.added == [] and result.updated == [] and len(result.unchanged) == 1
        where = "" if saved_as == "report.md" else f" as {saved_as}"
        assert result.notes == [f"report.md is already indexed{where} (the same file); nothing changed"]
    assert sorted(os.listdir(uploads)) == ["report (2).md", "report.md"]
    assert fresh_assistant.documents() == before

    # A third different version gets the next free number.
    (second / "report.md").write_text("# Bakery\n\nThe bakery now also sells spelt bread.\n", encoding="utf-8")
    assert add_uploads(fresh_assistant, [second / "report.md"]).notes == ["report.md existed; saved as report (3).md"]


def _wired(app, name):
    """The Python function build_app wired to an event, by its name."""
    fns = [f.fn for f in app.fns.values() if getattr(f.fn, "__name__", "") == name]
    assert fns, name
    return fns[0]


def test_the_collection_chooser_switches_the_document_list_and_uploads_go_to_the_chosen_collection(
    fresh_assistant, tmp_path
):
    (tmp_path / "tram.txt").write_text("Title: Tram depot\n\nThe tram depot opens at five.\n", encoding="utf-8")
    (tmp_path / "ferry.txt").write_text("Title: Ferry times\n\nThe ferry leaves at noon.\n", encoding="utf-8")
    fresh_assistant.ingest(str(tmp_path / "tram.txt"))
    app = build_app(fresh_assistant)
    chooser = [
        c for c in app.config["components"] if c.get("props", {}).get("elem_id") in ("collection", "doc-collection")
    ]
    assert len(chooser) == 2 and all(c["type"] == "dropdown" for c in chooser)
    docs_switch, switch = _wired(app, "docs_switched"), _wired(app, "chat_switched")
    upload, load, scope_of = _wired(app, "add_files"), _wired(app, "load_page"), _wired(app, "refresh_scope")

    table, _, summary, chat_names, doc_names, whoami = load()
    assert [r[0] for r in table["value"]] == ["Tram depot"] and chat_names["choices"] == ["documents"]
    assert whoami["value"] == "" and whoami["visible"] is False  # no login: nobody to name, no "Log out"

    # Type a new name in the Documents tab and upload: the file goes to that collection only.
    table, chosen, summary, other, scope = docs_switch("harbor-notes", "documents", [])
    assert table["value"] == [] and other["value"] == "harbor-notes" and "harbor-notes" in other["choices"]
    out = upload([str(tmp_path / "ferry.txt")], "harbor-notes", progress=None)
    assert [r[0] for r in out[0]["value"]] == ["Ferry times"]
    assert "harbor-notes" in out[3]["choices"] and "harbor-notes" in out[4]["choices"]
    assert [c[1] for c in scope_of(None, "harbor-notes")["choices"]] == [
        str(Path(fresh_assistant.settings.uploads) / "harbor-notes" / "ferry.txt")
    ]
    assert [d["title"] for d in fresh_assistant.documents()] == ["Tram depot"]
    assert [d["title"] for d in fresh_assistant.using("harbor-notes").documents()] == ["Ferry times"]

    # Switching back in the Chat tab shows the default collection's documents and its scope choices.
    table, chosen, summary, other, scope = switch("documents", "harbor-notes", [])
    assert [r[0] for r in table["value"]] == ["Tram depot"] and other["value"] == "documents"
    assert [c[0] for c in scope["choices"]] == ["Tram depot"]
    assert switch("documents", "documents", []) == (gr.skip(),) * 5  # the other chooser's echo: nothing to do
    with pytest.warns(UserWarning, match="invalid collection name"):
        assert switch("no good", "documents", []) == (gr.skip(),) * 5
    # Both collections together in the Chat tab: the Documents tab keeps showing one of them, the
    # scope lists the documents of both; the Documents tab never takes a combined name.
    out = switch("documents+harbor-notes", "documents", [])
    assert out[:4] == (gr.skip(),) * 4 and sorted(c[0] for c in out[4]["choices"]) == ["Ferry times", "Tram depot"]
    table, _, _, chat, _ = docs_switch("harbor-notes", "documents+harbor-notes", [])
    assert [r[0] for r in table["value"]] == ["Ferry times"] and chat == gr.skip()
    with pytest.warns(UserWarning, match="one collection at a time"):
        docs_switch("documents+harbor-notes", "documents", [])
    assert fresh_assistant.using("harbor-notes").search("When does the ferry leave?", 1)[0].chunk.title == "Ferry times"


# --------------------------------------------------------------------------- the HTTP API


@pytest.mark.llm
def test_ask_endpoint_answers_with_exact_citations(seed_server):
    client = Client(seed_server.url, verbose=False)
    r = client.predict(SEED_QUESTION, api_name="/ask")
    assert isinstance(r, dict)
    assert set(r) >= {"question", "answer", "refused", "citations", "timings"}
    assert r["question"] == SEED_QUESTION
    assert not r["refused"], r["answer"]
    assert r["citations"], r
    for c in r["citations"]:
        assert set(c) >= {"n", "source", "title", "date", "start", "end", "quote", "score"}
        assert Assistant.text_of(c["source"])[c["start"] : c["end"]] == c["quote"]
        assert f"[{c['n']}]" in r["answer"]
    assert any("authoriz" in c["quote"].lower() for c in r["citations"])


@pytest.mark.llm
def test_ask_endpoint_refuses_what_documents_do_not_say(seed_server):
    client = Client(seed_server.url, verbose=False)
    r = client.predict("What is the capital of Australia?", api_name="/ask")
    assert r["refused"] is True
    assert r["answer"].startswith(REFUSAL)
    assert r["citations"] == []


def test_search_endpoint_and_errors_are_messages(seed_server):
    client = Client(seed_server.url, verbose=False)
    passages = client.predict("drone strikes Venezuela", 3, api_name="/search")
    assert 1 <= len(passages) <= 3
    p = passages[0]
    assert Assistant.text_of(p["source"])[p["start"] : p["end"]] == p["text"]
    with pytest.raises(Exception) as err:  # gradio_client raises AppError carrying our message
        client.predict("   ", api_name="/ask")
    assert "empty" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_unreachable_llm_server_is_a_message(tmp_path, shared_embedder):
    a = Assistant(
        Settings.load(index_dir=str(tmp_path / "index"), llm_url=f"http://127.0.0.1:{free_port()}/v1", llm_timeout_s=5)
    )
    a.embedder = shared_embedder
    a.ingest(str(Path(__file__).resolve().parents[1] / "seeds"))
    server = Server(a)
    try:
        with pytest.raises(Exception) as err:
            Client(server.url, verbose=False).predict(SEED_QUESTION, api_name="/ask")
        assert "language model could not answer" in str(err.value)
    finally:
        server.close()


def test_login_required_when_auth_is_set(fresh_assistant):
    server = Server(fresh_assistant, auth="alice:s3cret")
    try:
        assert httpx.get(server.url + "config", timeout=10).status_code == 401
        assert httpx.get(server.url + "gradio_api/info", timeout=10).status_code == 401
        with pytest.raises(Exception):  # noqa: B017  (gradio_client's error type for a refused login varies)
            Client(server.url, verbose=False)
        with pytest.raises(Exception):  # noqa: B017
            Client(server.url, auth=("alice", "wrong"), verbose=False)
        client = Client(server.url, auth=("alice", "s3cret"), verbose=False)
        assert "/ask" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    finally:
        server.close()


def test_log_out_ends_this_browsers_login_and_failed_logins_lock_the_name(tmp_path):
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index"), login_attempts=2, login_lockout_s=90))
    server = Server(a, auth="alice:s3cret")
    try:
        one, two = (httpx.Client(base_url=server.url, timeout=30) for _ in range(2))
        for http in (one, two):
            assert http.post("login", data={"username": "alice", "password": "s3cret"}).status_code == 200
            assert http.get("gradio_api/info").status_code == 200
        r = one.get("logout?all_session=false")  # the page's "Log out" link
        assert r.status_code == 302
        assert one.get("gradio_api/info").status_code == 401  # this browser is logged out...
        assert two.get("gradio_api/info").status_code == 200  # ...the other one is not

        for _ in range(2):
            r = httpx.post(server.url + "login", data={"username": "alice", "password": "nope"}, timeout=30)
            assert r.status_code == 400 and "Incorrect credentials" in r.text
        r = httpx.post(server.url + "login", data={"username": "alice", "password": "s3cret"}, timeout=30)
        assert r.status_code == 400 and r.json()["detail"].startswith("Too many failed logins")
        assert "try again in 1 min 30 s" in r.json()["detail"] or "try again in 1 min 2" in r.json()["detail"]
        assert two.get("gradio_api/info").status_code == 200  # a session logged in before keeps working
    finally:
        server.close()


def test_a_session_keeps_its_last_turns_only(tmp_path):
    """``history_turns``: older questions leave the chat, the follow-up history and the citations; the
    thumbs of the kept answers still name the right message."""
    import inspect

    from assistant.web import trim_session

    a = QueuedAssistant(Settings.load(index_dir=str(tmp_path / "index"), history_turns=3))
    app = build_app(a)
    fn = next(f.fn for f in app.fns.values() if f.name == "respond")
    params = inspect.signature(fn).parameters
    session = None
    for i in range(7):
        out = list(fn(**{**dict.fromkeys(params), "question": f"question number {i}", "docs": [], "session": session}))
        session = out[-1][3]
    assert [q for q, _ in session["history"]] == ["question number 4", "question number 5", "question number 6"]
    assert len(session["messages"]) == 6 and sorted(session["turns"]) == [5, 6, 7]
    assert "question number 4" in session["messages"][0]["content"]
    assert [session["turns"][t]["message"] for t in (5, 6, 7)] == [1, 3, 5]
    assert session["turns"][7]["question"] == "question number 6" and session["dropped"] == 4
    vote = next(f.fn for f in app.fns.values() if f.name == "vote")
    vote(session, None, gr.LikeData(None, {"index": 5, "value": ["..."], "liked": True}))
    line = (tmp_path / "index" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    assert '"question": "question number 6"' in line
    assert trim_session(session, 3) == 0 and trim_session(session, 1) == 2 and len(session["messages"]) == 2


def test_ask_and_search_take_a_scope_and_the_chat_tab_offers_one(fresh_assistant, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbor.txt").write_text(
        "Title: Kestrel harbor dredging\n\nThe Kestrel harbor channel was dredged to a depth of 14 meters in June.\n",
        encoding="utf-8",
    )
    fresh_assistant.ingest(str(Path(__file__).resolve().parents[1] / "seeds"), str(docs))
    server = Server(fresh_assistant)
    try:
        client = Client(server.url, verbose=False)
        harbor = str(docs / "harbor.txt")
        hits = client.predict("drone strikes Venezuela", 3, [harbor], api_name="/search")
        assert hits and {h["source"] for h in hits} == {harbor}
        r = client.predict("What did Nepal's mountaineers climb?", [str(docs)], api_name="/ask")  # refused, no LLM
        assert r["refused"] and r["scope"] == [harbor]
        with pytest.raises(Exception) as err:
            client.predict("Anything?", ["nowhere.txt"], api_name="/ask")
        assert "nowhere.txt" in str(err.value) and "Traceback" not in str(err.value)
        scope = [c for c in client.config["components"] if c.get("props", {}).get("elem_id") == "scope"]
        assert scope and scope[0]["props"]["multiselect"] and scope[0]["props"]["filterable"]
    finally:
        server.close()


# --------------------------------------------------------------------------- the shared queue and cache


class QueuedAssistant:
    """What build_app and the answer queue use of an Assistant, with a scripted, blockable answer."""

    name = "documents"

    def __init__(self, settings):
        self.settings = settings
        self.store = self
        self.calls: list[str] = []
        self.release: dict[str, object] = {}

    def version(self):
        return "v1"

    def count(self):
        return 1

    def documents(self):
        return []

    def stream(self, question, history=None, docs=None):
        from assistant.answer import Event
        from assistant.schema import Answer

        self.calls.append(question)
        yield Event("passages", [])
        gate = self.release.get(question)
        if gate is not None:
            gate.wait(30)  # type: ignore[attr-defined]
        yield Event("text", "The strikes have not been authorized.")
        yield Event("answer", Answer(question=question, answer="The strikes have not been authorized.", refused=False))


def test_a_waiting_chat_user_sees_their_place_and_a_full_line_says_busy(tmp_path):
    import inspect
    import threading

    a = QueuedAssistant(Settings.load(index_dir=str(tmp_path / "index"), max_queue=1))
    a.release["first"] = threading.Event()
    app = build_app(a)
    fn = next(f.fn for f in app.fns.values() if f.name == "respond")
    params = inspect.signature(fn).parameters

    def respond(question, docs, session):  # whatever other inputs the chat has (a collection) are left empty
        return fn(**{**dict.fromkeys(params), "question": question, "docs": docs, "session": session})

    first = respond("first", [], None)
    while True:  # until the first answer holds the only slot
        out = next(first)
        if "Reading the passages" in out[1][-1]["content"]:
            break
    second = respond("second", [], None)
    next(second)  # the question is shown
    waiting = next(second)[1][-1]["content"]
    assert "Waiting: 1st in line, about 20 s" in waiting, waiting
    third = list(respond("third", [], None))
    assert "The assistant is busy: 1 question is waiting; try again in about 40 s." in third[-1][1][-1]["content"]
    a.release["first"].set()  # type: ignore[attr-defined]
    assert "not been authorized" in list(first)[-1][1][-1]["content"]
    assert "not been authorized" in list(second)[-1][1][-1]["content"]
    repeat = list(respond(" FIRST ", [], None))[-1][1][-1]["content"]
    assert "Answered from the cache" in repeat and a.calls == ["first", "second"]


def test_ask_endpoint_answers_a_repeated_question_from_the_cache(tmp_path):
    a = QueuedAssistant(Settings.load(index_dir=str(tmp_path / "index")))
    server = Server(a)
    try:
        client = Client(server.url, verbose=False)
        r1 = client.predict("Has Trump authorized the strikes?", api_name="/ask")
        r2 = client.predict("has trump authorized the strikes?  ", api_name="/ask")
        assert "cached" not in r1["timings"] and r2["timings"]["cached"] is True
        assert r2["answer"] == r1["answer"] and a.calls == ["Has Trump authorized the strikes?"]
    finally:
        server.close()
