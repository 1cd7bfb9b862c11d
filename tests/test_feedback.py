"""Conversation export and the feedback store (assistant/feedback.py), the web app's handlers that
call them, and ``assistant feedback``. No models: the chat runs over a scripted assistant."""

from __future__ import annotations

import inspect
import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from assistant import Settings
from assistant.cli import main
from assistant.feedback import FeedbackStore, conversation_markdown, md_text, report_text

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")

EVIL_QUOTE = "Fares *rise* on [Monday](javascript:alert(1)) <img src=x onerror=alert(1)> see https://evil.example & www.evil.example $x$"
CITE = {
    "n": 1,
    "source": "/docs/ferry.pdf",
    "title": "Ferry <b>times</b>",
    "date": "2026-01-02",
    "start": 10,
    "end": 120,
    "quote": "The ferry leaves the harbor at noon.",
    "score": 1.0,
    "page": 12,
    "section": "Departures",
}


def turns():
    return [
        {"question": "When does the ferry leave?", "answer": "At noon [1].", "refused": False, "citations": [CITE]},
        {
            "question": "# And the fares? [x](http://a.b)",
            "answer": "Fares rise [1].\n- first point [1]",
            "refused": False,
            "citations": [{**CITE, "n": 1, "quote": EVIL_QUOTE, "page": None, "section": ""}],
        },
        {
            "question": "Capital of Australia?",
            "answer": "I could not find the answer.",
            "refused": True,
            "citations": [],
        },
    ]


def rendered(md: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).render(md)


def test_export_lists_each_question_answer_and_numbered_citations_with_the_exact_quote():
    md = conversation_markdown(turns(), collection="documents", now=datetime(2026, 3, 4, 5, 6, tzinfo=UTC))
    lines = md.splitlines()
    assert lines[0] == "# Conversation with your documents"
    assert lines[2] == "Exported 2026-03-04 05:06 UTC · collection documents · 3 questions"
    assert "## 1. When does the ferry leave?" in lines
    first = md.split("## 2.")[0]
    assert "At noon \\[1\\]." in first
    assert "1\\. **Ferry \\<b\\>times\\</b\\>** · 2026-01-02 · p. 12 · § Departures  " in first
    assert "   `/docs/ferry.pdf`, characters 10–120" in first
    assert "   > The ferry leaves the harbor at noon." in first
    third = md.split("## 3.")[1]
    assert "Sources:" not in third  # a refusal lists no sources

    html = rendered(md)
    assert html.count("<h2>") == 3 and html.count("<blockquote>") == 2
    # Nothing from a document or a question becomes a link, an image, HTML or a heading.
    assert "<a" not in html and "<img" not in html and "<b>" not in html and "<h1>" not in html.split("</h1>", 1)[1]
    assert "<li>first point [1]</li>" in html  # the answer's own bullets stay a list
    assert "javascript\\:" in md and "https\\://evil" in md and "www\\.evil" in md  # no auto-links either
    # The quote reads exactly as in the document once rendered.
    text = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert EVIL_QUOTE in text
    assert "The ferry leaves the harbor at noon." in text


def test_md_text_defuses_autolinks_and_block_syntax():
    from assistant.feedback import code_span

    assert code_span("a`b") == "``a`b``" and code_span("`x") == "`` `x ``"
    assert md_text("http://x.y") == "http\\://x.y"
    assert md_text("see www.a.b") == "see www\\.a.b"
    assert md_text("a@b.c") == "a\\@b.c"
    assert md_text("- item") == "\\- item" and md_text("1. one") == "1\\. one" and md_text("===") == "\\==="
    assert md_text("> quote") == "\\> quote"


def test_votes_are_appended_and_the_report_keeps_each_answers_last_vote(tmp_path):
    store = FeedbackStore.of(Settings.load(index_dir=str(tmp_path / "index")))
    assert store.path == tmp_path / "index" / "feedback.jsonl"
    assert Settings.load(index_dir="x", feedback_file=str(tmp_path / "f.jsonl")).feedback == tmp_path / "f.jsonl"
    assert store.report()["lines"] == 0 and "No feedback yet" in report_text(store.report())

    base = dict(answer="At noon [1].", citations=[CITE])
    store.add(answer_id="a1", question="Q1", vote="up", when=1_000, **base)
    store.add(answer_id="a2", question="Q2", vote="down", when=2_000, **base)
    store.add(answer_id="a2", question="Q2", vote="down", comment="wrong page", when=2_010, **base)
    store.add(answer_id="a3", question="Q3", vote="down", when=3_000, **base)
    store.add(answer_id="a4", question="Q4", vote="up", when=4_000, **base)
    store.add(answer_id="a4", question="Q4", vote="none", when=4_010, **base)  # taken back
    store.add(answer_id="a6", question="Q6", vote="down", user="carol", when=5_000, **base)  # with accounts
    with pytest.raises(ValueError):
        store.add(answer_id="a5", question="Q5", vote="meh", **base)

    records = store.read().records
    assert len(records) == 7 and records[0]["time"] == "1970-01-01T00:16:40+00:00"
    assert records[0]["user"] is None and records[6]["user"] == "carol"
    assert set(records[0]) >= {"id", "time", "vote", "question", "answer", "citations", "comment"}
    assert records[0]["citations"][0]["quote"] == CITE["quote"] and "score" not in records[0]["citations"][0]
    assert (store.path.stat().st_mode & 0o777) == 0o600

    rep = store.report()
    assert (rep["answers"], rep["up"], rep["down"], rep["lines"]) == (4, 1, 3, 7)
    assert [r["question"] for r in rep["down_voted"]] == ["Q6", "Q3", "Q2"]  # most recent first
    assert rep["down_voted"][2]["comment"] == "wrong page" and rep["down_voted"][0]["user"] == "carol"
    text = report_text(rep)
    assert text.splitlines()[0].startswith("4 answers rated: 1 up, 3 down")
    assert text.index("Q3") < text.index("Q2") and "comment: wrong page" in text and "Q6  (carol)" in text


def test_concurrent_appends_never_interleave_and_a_torn_line_is_skipped(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    store.path.write_bytes(b'{"id": "torn", "vote": "up", "quest')  # a crash mid-line
    threads, per_thread = 8, 40
    long_answer = "x" * 20_000  # far beyond a pipe's atomic size: interleaving would show

    def vote(t: int):
        for i in range(per_thread):
            store.add(answer_id=f"{t}-{i}", question=f"q{t}-{i}", answer=long_answer, vote="down", citations=[CITE])

    workers = [threading.Thread(target=vote, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    fb = store.read()
    assert fb.unreadable == 1  # only the torn line; the first vote after it was not glued onto it
    assert len(fb.records) == threads * per_thread
    assert {r["id"] for r in fb.records} == {f"{t}-{i}" for t in range(threads) for i in range(per_thread)}
    assert all(r["answer"] == long_answer for r in fb.records)
    assert "(1 unreadable lines skipped)" in report_text(store.report())


def test_cli_feedback_prints_the_report_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    assert main(["feedback"]) == 0
    assert "No feedback yet" in capsys.readouterr().out
    store = FeedbackStore(tmp_path / "index" / "feedback.jsonl")
    store.add(answer_id="a", question="When does the ferry leave?", answer="At noon [1].", vote="up", citations=[CITE])
    store.add(answer_id="b", question="Who runs the ferry?", answer="The city [1].", vote="down", citations=[CITE])
    store.add(
        answer_id="b", question="Who runs the ferry?", answer="The city [1].", vote="down", comment="It is a company"
    )
    assert main(["feedback"]) == 0
    out = capsys.readouterr().out
    assert "2 answers rated: 1 up, 1 down" in out
    assert "Who runs the ferry?" in out and "comment: It is a company" in out and "When does the ferry" not in out
    assert main(["feedback", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["up"], rep["down"], rep["answers"]) == (1, 1, 2)
    assert (
        rep["down_voted"][0]["question"] == "Who runs the ferry?"
        and rep["down_voted"][0]["comment"] == "It is a company"
    )


# --------------------------------------------------------------------------- the web app's handlers


class ScriptedAssistant:
    """What build_app uses of an Assistant, with a scripted cited answer into a real file."""

    name = "documents"

    def __init__(self, settings, doc: Path):
        self.settings, self.store, self.doc = settings, self, doc
        self.text = doc.read_text(encoding="utf-8")

    def version(self):
        return "v1"

    def count(self):
        return 1

    def documents(self):
        return []

    def stream(self, question, history=None, docs=None):
        from assistant.answer import Event
        from assistant.schema import Answer, Citation

        quote = "The ferry leaves the harbor at noon."
        start = self.text.index(quote)
        cite = Citation(1, str(self.doc), "Harbor timetable", "2026-12-01", start, start + len(quote), quote, 1.0)
        yield Event("passages", [])
        yield Event("text", "The ferry leaves at noon [1].")
        yield Event("answer", Answer(question, "The ferry leaves at noon [1].", False, citations=[cite]))


def _wired(app, name):
    fns = [f.fn for f in app.fns.values() if getattr(f.fn, "__name__", "") == name]
    assert fns, name
    return fns[0]


def test_the_chat_exports_this_sessions_conversation_and_votes_go_to_the_feedback_file(tmp_path):
    import gradio as gr

    from assistant.web import build_app

    doc = tmp_path / "harbor.txt"
    doc.write_text("Title: Harbor timetable\n\nThe ferry leaves the harbor at noon.\n", encoding="utf-8")
    a = ScriptedAssistant(Settings.load(index_dir=str(tmp_path / "index")), doc)
    app = build_app(a)
    respond, vote, comment = _wired(app, "respond"), _wired(app, "vote"), _wired(app, "send_comment")
    params = inspect.signature(respond).parameters

    def ask(question, session):
        return list(respond(**{**dict.fromkeys(params), "question": question, "docs": [], "session": session}))

    mine = ask("When does the ferry leave?", None)
    session = mine[-1][3]
    theirs = ask("A question from another browser", None)  # another session: never in my export
    assert mine[0][4] == gr.update(visible=True) and mine[-1][4] == gr.update(visible=False)  # Stop while answering
    exported = Path(mine[-1][5]["value"])
    assert mine[-1][5]["interactive"] and exported.name.startswith("conversation-") and exported.suffix == ".md"
    md = exported.read_text(encoding="utf-8")
    assert "## 1. When does the ferry leave?" in md and "> The ferry leaves the harbor at noon." in md
    assert "another browser" not in md and Path(theirs[-1][5]["value"]).parent != exported.parent

    like = gr.LikeData(None, {"index": 1, "value": ["..."], "liked": False})
    row, _, note, session = vote(session, None, like)
    assert row == gr.update(visible=True) and "saved" in note
    assert comment("Wrong day", session, None)[2] == "Thanks: your comment was saved."
    lines = [json.loads(x) for x in (tmp_path / "index" / "feedback.jsonl").read_text().splitlines()]
    assert [(x["vote"], x["comment"]) for x in lines] == [("down", ""), ("down", "Wrong day")]
    assert lines[0]["question"] == "When does the ferry leave?" and lines[0]["citations"][0]["n"] == 1
    assert lines[0]["id"] == lines[1]["id"]
    assert lines[0]["user"] is None  # no accounts: nobody to name (with accounts: test_accounts.py)
    # The user's own message (index 0) is not an answer: nothing is written.
    assert vote(session, None, gr.LikeData(None, {"index": 0, "value": "q", "liked": True}))[0] == gr.skip()
    assert len((tmp_path / "index" / "feedback.jsonl").read_text().splitlines()) == 2
