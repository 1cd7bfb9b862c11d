"""The web app in a real headless Chromium (Playwright, the apt-installed /usr/bin/chromium).

One conversation drives everything, to keep the real 1.5B LLM to two answers: the seed
question (streamed answer, passages panel, clickable citation, highlighted quote, whole
document), then an uploaded document and a follow-up question about it, answered with a
citation into the upload. Screenshots go to test-artifacts/ (1366x768 and 390x844); a small
laptop one is copied to docs/screenshot.png.

The copy button, thumbs up/down, the Markdown export, the Stop button and the Documents table at
390 px are checked over a scripted assistant (``ScriptedAssistant``: a cited answer into a real
file, no models), so they cost seconds, not LLM minutes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import EchoLLM

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant import Assistant, Settings  # noqa: E402
from assistant.web import build_app, launch  # noqa: E402

# Gradio's local queue statistics use a pandas option pandas deprecates: not ours to fix.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing"),
]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SEED_QUESTION = "Has Trump authorized the strikes?"
ZEBRA_FACT = "The zebra festival in Utrecht takes place on 12 May."
ANSWER_TIMEOUT_MS = 240_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, shared_embedder):
    """The app over its own index of the seeds (uploads must not leak into other tests' indexes)."""
    a = Assistant(Settings.load(index_dir=str(tmp_path_factory.mktemp("web-index"))))
    a.embedder = shared_embedder
    a.ingest(str(ROOT / "seeds"))
    app = build_app(a)
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", a
    app.close()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def expect(locator):
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def open_app(browser, url, viewport=LAPTOP):
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    page.wait_for_selector("#passages .panel-empty")
    return page


def bot_messages(page) -> list[str]:
    return page.eval_on_selector_all(
        "#chatbot .message-row.bot-row", "els => els.map(e => e.innerText.trim()).filter(Boolean)"
    )


def ask(page, question: str, n_answers: int):
    """Type and send a question; wait until answer number n_answers has citations or a refusal."""
    page.fill("#question textarea", question)
    page.click("#ask-btn")
    page.wait_for_function(
        """n => { const links = document.querySelectorAll('#chatbot .sources a.cite');
                  const turns = new Set([...links].map(a => a.getAttribute('href').split('-')[1]));
                  return turns.size >= n; }""",
        arg=n_answers,
        timeout=ANSWER_TIMEOUT_MS,
    )


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def save_docs_screenshot(src: Path):
    """docs/screenshot.png: the laptop screenshot, shrunk until it is comfortably small."""
    from PIL import Image

    dest = ROOT / "docs" / "screenshot.png"
    dest.parent.mkdir(exist_ok=True)
    img = Image.open(src).convert("RGB")
    for width in (1366, 1100, 960, 800):
        small = img if width == img.width else img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        small.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
        if dest.stat().st_size < 190_000:
            break
    return dest


@pytest.mark.llm
def test_chat_citations_upload_and_layout(server, browser, tmp_path):
    url, assistant = server
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_app(browser, url)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # An empty question is a message, not an error page.
    page.click("#ask-btn")
    page.get_by_text("Type a question about your documents first.").first.wait_for()
    assert bot_messages(page) == []

    # Record the order in which the passages panel and the answer text appear.
    page.evaluate("""() => {
        window.__seen = {};
        const mark = (k) => { if (!window.__seen[k]) window.__seen[k] = performance.now(); };
        new MutationObserver(() => {
            if (document.querySelector('#passages .passage')) mark('passages');
            if (document.querySelector('#chatbot a.cite')) mark('answer');
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    ask(page, SEED_QUESTION, 1)
    seen = page.evaluate("window.__seen")
    assert seen.get("passages") and seen.get("answer") and seen["passages"] < seen["answer"], seen
    assert page.locator("#passages .passage").count() >= 1
    answer = bot_messages(page)[-1]
    assert "[1]" in answer and "Sources:" in answer, answer
    assert not page.locator("#chatbot .message-row").filter(has_text="Traceback").count()

    # Citation [1] in the answer text -> evidence panel with the quoted span highlighted.
    page.locator("#chatbot a.cite").first.click()
    mark = page.locator("#evidence .ev-passage mark")
    mark.wait_for()
    quote = mark.inner_text().strip()
    seed_text = Assistant.text_of(str(ROOT / "seeds" / "000_e58740dbd93eda86.txt"))
    assert quote and " ".join(quote.split()) in " ".join(seed_text.split())
    assert "authoriz" in quote.lower() or "approv" in quote.lower()  # either sentence says "not yet"
    head = page.inner_text("#evidence .ev-head")
    assert "[1]" in head and re.search(r"\d{4}-\d{2}-\d{2}", head)  # title and date are shown

    # The whole document, with the same span highlighted and scrolled into view in its box.
    page.click("#evidence details.whole-doc summary")
    page.locator("#evidence .doc-text").wait_for(state="visible")
    assert page.inner_text("#evidence .doc-text mark.doc-mark").strip() == quote
    assert page.evaluate("""() => { const box = document.querySelector('#evidence .doc-text');
        const m = box.querySelector('mark').getBoundingClientRect(), b = box.getBoundingClientRect();
        return m.top >= b.top - 1 && m.top < b.bottom; }""")
    laptop = ARTIFACTS / "laptop-1366x768.png"
    page.screenshot(path=str(laptop))
    save_docs_screenshot(laptop)
    assert (ROOT / "docs" / "screenshot.png").stat().st_size < 200_000

    # Side by side on a laptop.
    chat_box, side_box = page.locator("#chat-col").bounding_box(), page.locator("#side-col").bounding_box()
    assert side_box["x"] >= chat_box["x"] + chat_box["width"] - 2
    assert no_horizontal_overflow(page)

    # Another browser has its own, empty conversation.
    other = open_app(browser, url)
    assert bot_messages(other) == []
    other.close()

    # Upload a document (plus one that cannot be read) and ask a follow-up about it.
    upload_dir = tmp_path / "to-upload"
    upload_dir.mkdir()
    (upload_dir / "zebra.txt").write_text(f"Title: Utrecht events\n\n{ZEBRA_FACT}\n", encoding="utf-8")
    (upload_dir / "empty.txt").write_text("", encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    expect(page.locator("#doc-table")).to_contain_text("000_e58740dbd93eda86")
    page.set_input_files("#upload input[type=file]", [str(upload_dir / "zebra.txt"), str(upload_dir / "empty.txt")])
    status = page.locator("#upload-status")
    status.get_by_text("Indexed").wait_for(timeout=120_000)
    assert "empty.txt" in status.inner_text()  # the skipped file and its reason
    expect(page.locator("#doc-table")).to_contain_text("Utrecht events")
    uploads = Path(assistant.settings.uploads)
    assert sorted(os.listdir(uploads)) == ["zebra.txt"]
    page.screenshot(path=str(ARTIFACTS / "documents-1366x768.png"))

    page.get_by_role("tab", name="Chat").click()
    ask(page, "When does the zebra festival in Utrecht take place?", 2)
    answer = bot_messages(page)[-1]
    assert "12 May" in answer, answer
    page.locator("#chatbot a.cite").last.click()
    page.locator("#evidence .ev-src").get_by_text("zebra.txt").wait_for()
    assert "12 May" in page.inner_text("#evidence .ev-passage mark")
    assert len(bot_messages(page)) == 2  # the earlier answer is still there: one conversation

    # Phone width: panels stack under the chat, nothing overflows sideways.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    assert no_horizontal_overflow(page)
    chat_box, side_box = page.locator("#chat-col").bounding_box(), page.locator("#side-col").bounding_box()
    assert side_box["y"] >= chat_box["y"] + chat_box["height"] - 2
    page.screenshot(path=str(ARTIFACTS / "phone-390x844.png"))
    page.screenshot(path=str(ARTIFACTS / "phone-390x844-full.png"), full_page=True)

    # New chat forgets the conversation.
    page.set_viewport_size(LAPTOP)
    page.click("#new-chat")
    page.wait_for_function("!document.querySelector('#chatbot a.cite')")
    assert bot_messages(page) == []

    # Remove the upload: pick its row in the table, then "Remove from index".
    page.get_by_role("tab", name="Documents").click()
    page.locator("#doc-table .body-cell", has_text="Utrecht events").first.click()
    expect(page.locator("#remove-choice input")).to_have_value(re.compile("zebra.txt"))
    page.click("#remove-btn")
    expect(page.locator("#doc-table")).not_to_contain_text("Utrecht events")
    expect(page.locator("#doc-summary")).to_contain_text("1 document indexed")
    assert [Path(d["source"]).name for d in assistant.documents()] == ["000_e58740dbd93eda86.txt"]
    assert os.listdir(uploads) == []
    assert not errors, errors
    page.close()


@pytest.mark.llm
def test_phone_page_has_no_horizontal_overflow(server, browser):
    url, _ = server
    page = open_app(browser, url, PHONE)
    assert no_horizontal_overflow(page)
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#upload")
    assert no_horizontal_overflow(page)
    page.close()


# --------------------------------------------------------------------------- copy, feedback, export, stop (scripted)

FERRY = "Title: Harbor timetable\n\n# Departures\n\nThe ferry leaves the harbor at noon. It returns at six.\n"
FERRY_QUOTE = "The ferry leaves the harbor at noon."


class ScriptedAssistant:
    """What build_app uses of an Assistant: a cited answer into a real file, no models. A question
    with "slowly" in it waits after its first sentence until ``hold`` is set (for the Stop button)."""

    name = "documents"

    def __init__(self, settings, doc: Path):
        self.settings, self.store, self.doc = settings, self, doc
        self.text = doc.read_text(encoding="utf-8")
        self.hold = threading.Event()
        self.closed: list[str] = []  # questions whose answer stream was closed (finished or cancelled)

    def version(self):
        return "v1"

    def count(self):
        return 1

    def documents(self):
        return [{"title": "Harbor timetable", "date": "2026-12-01", "chunks": 1, "source": str(self.doc)}]

    def stream(self, question, history=None, docs=None):
        from assistant.answer import Event
        from assistant.schema import Answer, Chunk, Citation, Passage

        start = self.text.index(FERRY_QUOTE)
        chunk = Chunk("c1", str(self.doc), "Harbor timetable", "2026-12-01", "h", 0, len(self.text), self.text)
        cite = Citation(
            1, str(self.doc), "Harbor timetable", "2026-12-01", start, start + len(FERRY_QUOTE), FERRY_QUOTE, 1.0,
            section="Departures",
        )  # fmt: skip
        try:
            yield Event("passages", [Passage(chunk, 1.0)])
            yield Event("text", "The ferry leaves at noon [1].")
            if "slowly" in question:
                self.hold.wait(60)
                yield Event("text", " It returns at six [1].")
            yield Event("citation", cite)
            yield Event("answer", Answer(question, "The ferry leaves at noon [1].", False, citations=[cite]))
        finally:
            self.closed.append(question)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    root = tmp_path_factory.mktemp("scripted-web")
    doc = root / "harbor.txt"
    doc.write_text(FERRY, encoding="utf-8")
    a = ScriptedAssistant(Settings.load(index_dir=str(root / "index")), doc)
    app = build_app(a)
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", a
    a.hold.set()
    app.close()


def scripted_page(browser, url, viewport=LAPTOP):
    context = browser.new_context(viewport=viewport)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return page


def answer_buttons(page):
    """The buttons under the latest answer: copy, thumbs down, thumbs up (in Gradio's order)."""
    return page.locator("#chatbot .message-buttons").last.locator("button")


def test_copy_thumbs_down_with_comment_and_export(scripted, browser):
    url, assistant = scripted
    feedback_file = Path(assistant.settings.feedback)
    page = scripted_page(browser, url)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    expect(page.locator("#export-btn")).to_be_disabled()  # nothing to export yet
    ask(page, "When does the ferry leave?", 1)

    # Copy: the answer as shown, with its sources; not its Markdown source and citation links.
    answer_buttons(page).first.click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('Sources'))")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("The ferry leaves at noon [1].") and "Harbor timetable" in copied, copied
    assert "<a" not in copied and "&#91;" not in copied and "\\" not in copied

    # Thumbs down: one JSONL line with the question, answer, citations and vote; then a comment.
    before = feedback_file.read_text().count("\n") if feedback_file.exists() else 0
    page.locator("#chatbot .message-buttons button[aria-label='Dislike']").last.click()
    page.locator("#comment textarea").wait_for(state="visible")
    deadline = time.time() + 20
    while time.time() < deadline and (not feedback_file.exists() or feedback_file.read_text().count("\n") == before):
        time.sleep(0.1)
    line = json.loads(feedback_file.read_text().splitlines()[-1])
    assert line["vote"] == "down" and line["question"] == "When does the ferry leave?"
    assert line["answer"] == "The ferry leaves at noon [1]." and line["citations"][0]["quote"] == FERRY_QUOTE
    assert line["time"] and line["comment"] == ""
    page.fill("#comment textarea", "It also returns at six")
    page.click("#comment-btn")
    expect(page.locator("#feedback-note")).to_contain_text("comment was saved")
    last = json.loads(feedback_file.read_text().splitlines()[-1])
    assert (last["id"], last["vote"], last["comment"]) == (line["id"], "down", "It also returns at six")

    # Export: this conversation as Markdown, with the citation's exact quote.
    expect(page.locator("#export-btn")).to_be_enabled()
    with page.expect_download() as download:
        page.click("#export-btn")
    md = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename.endswith(".md")
    assert "## 1. When does the ferry leave?" in md and f"> {FERRY_QUOTE}" in md
    assert "**Harbor timetable** · 2026-12-01 · § Departures" in md
    assert not errors, errors
    page.context.close()


def test_stop_button_cancels_a_streaming_answer_and_the_table_fits_a_phone(scripted, browser):
    url, assistant = scripted
    page = scripted_page(browser, url, PHONE)
    expect(page.locator("#stop-btn")).to_be_hidden()
    page.fill("#question textarea", "When does the ferry leave, slowly?")
    page.click("#ask-btn")
    page.locator("#chatbot a.cite").first.wait_for()  # the first sentence is shown, the rest is held back
    page.click("#stop-btn")
    expect(page.locator("#chatbot .message-row.bot-row").last).to_contain_text("Stopped.")
    expect(page.locator("#stop-btn")).to_be_hidden()
    # The step under way (here: held; with an LLM, the sentence being written) ends, its text is
    # dropped, and Gradio closes the answer's generator: the answer slot is free again.
    assistant.hold.set()
    deadline = time.time() + 20
    while time.time() < deadline and "When does the ferry leave, slowly?" not in assistant.closed:
        time.sleep(0.1)
    assert "When does the ferry leave, slowly?" in assistant.closed
    assert "returns at six" not in bot_messages(page)[-1]
    ask(page, "When does the ferry leave?", 1)  # the chat works again after a stop (the first has no sources)
    assert len(bot_messages(page)) == 2 and "Sources" in bot_messages(page)[-1]

    # The Documents table at 390 px: the date on one line, nothing overflows the page.
    page.get_by_role("tab", name="Documents").click()
    cell = page.locator("#doc-table [data-col='1'] span").first
    expect(cell).to_have_text("2026-12-01")
    one_line = cell.evaluate(
        "e => e.getClientRects().length === 1 && e.getBoundingClientRect().height < 1.8 * parseFloat(getComputedStyle(e).lineHeight)"
    )
    assert one_line
    assert no_horizontal_overflow(page)
    page.context.close()


# --------------------------------------------------------------------------- source guides and suggestions (scripted)

GUIDED_QUESTIONS = ["When does the ferry leave the harbor?", "Is the <b>ferry</b> late?"]
PIER_QUESTION = "How long is the new pier?"


class GuidedAssistant(ScriptedAssistant):
    """The scripted assistant over three documents whose guides are read by the real code
    (``Assistant.cached_guide``, ``Assistant.suggested_questions``: this class is its own store),
    and an ingest that reports progress, then waits until ``ingesting`` is set."""

    cached_guide = Assistant.cached_guide
    suggested_questions = Assistant.suggested_questions

    def __init__(self, settings, root: Path):
        self.docs = {}
        for name, title, text in (
            ("harbor.txt", "Harbor timetable", FERRY),
            ("pier.txt", "The pier", "The new pier is 400 metres long.\n"),
            ("minutes.txt", "Council minutes", "The council met on Monday.\n"),
        ):
            (root / name).write_text(text, encoding="utf-8")
            self.docs[str(root / name)] = title
        super().__init__(settings, root / "harbor.txt")
        self.ingesting = threading.Event()

    def documents(self):
        return [{"title": t, "date": "2026-12-01", "chunks": 1, "source": s} for s, t in self.docs.items()]

    def doc_states(self):
        return {s: {f"v-{Path(s).stem}": (1, 1)} for s in self.docs}

    def chunks_of(self, source):
        from assistant.schema import Chunk

        if source not in self.docs:
            return []
        return [
            Chunk(
                "c-" + Path(source).stem, source, self.docs[source], "2026-12-01", f"v-{Path(source).stem}", 0, 1, "x"
            )
        ]

    def ingest(self, path, progress=False, on_progress=None):
        from assistant.ingest import IngestReport

        on_progress("reading", 0, 1)
        on_progress("embedding", 64, 512)
        self.ingesting.wait(30)
        on_progress("embedding", 512, 512)
        return IngestReport(added=[path])


def save_guide(assistant, source: str, questions: list[str], quote: str = FERRY_QUOTE):
    from assistant import guide

    text = Path(source).read_text(encoding="utf-8")
    start = text.find(quote)
    guide.save(
        assistant.settings,
        {
            "source": source,
            "title": assistant.docs[source],
            "version": f"v-{Path(source).stem}",
            "summary": [{"quote": quote, "start": start, "end": start + len(quote), "page": None}],
            "questions": questions,
        },
    )


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    from assistant import web

    root = tmp_path_factory.mktemp("guided-web")
    a = GuidedAssistant(Settings.load(index_dir=str(root / "index")), root)
    save_guide(a, str(a.doc), GUIDED_QUESTIONS)
    poll, web.SUGGESTIONS_POLL_S = web.SUGGESTIONS_POLL_S, 1.0  # seconds, not 15, for a guide written meanwhile
    try:
        app = build_app(a)
    finally:
        web.SUGGESTIONS_POLL_S = poll
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", a
    a.hold.set()
    a.ingesting.set()
    app.close()


def test_guides_in_the_documents_tab_suggested_questions_and_upload_progress(guided, browser, tmp_path):
    url, assistant = guided
    ARTIFACTS.mkdir(exist_ok=True)
    page = scripted_page(browser, url)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # The chat offers the corpus's suggested questions (from the cached guide), as buttons.
    chips = page.locator("#suggestions button:visible")
    expect(chips).to_have_count(2)
    assert chips.all_inner_texts() == GUIDED_QUESTIONS  # the tag is text, not markup
    # Clicking one asks it: the ordinary question event, answered with citations.
    chips.first.click()
    ask_wait = page.locator("#chatbot .message-row.user-row")
    expect(ask_wait.first).to_contain_text(GUIDED_QUESTIONS[0])
    page.locator("#chatbot .sources a.cite").first.wait_for()
    assert GUIDED_QUESTIONS[0] in assistant.closed
    assert page.input_value("#question textarea") == ""

    # A guide written meanwhile (serve's background thread, `assistant guide`): its question shows up.
    pier = next(s for s in assistant.docs if s.endswith("pier.txt"))
    save_guide(assistant, pier, [PIER_QUESTION], quote="The new pier is 400 metres long.")
    expect(page.locator("#suggestions button:visible")).to_have_count(3, timeout=15_000)
    assert page.locator("#suggestions button:visible").all_inner_texts() == [
        GUIDED_QUESTIONS[0],
        PIER_QUESTION,
        GUIDED_QUESTIONS[1],
    ]
    page.screenshot(path=str(ARTIFACTS / "chat-suggestions-1366x768.png"))

    # The Documents tab: a row click shows that document's guide, escaped; one without: not computed yet.
    page.get_by_role("tab", name="Documents").click()
    panel = page.locator("#doc-guide")
    expect(panel).to_contain_text("Click a document")
    page.locator("#doc-table .body-cell", has_text="Harbor timetable").first.click()
    expect(panel.locator(".g-summary")).to_contain_text(FERRY_QUOTE)
    expect(panel.locator(".g-questions li")).to_have_text(GUIDED_QUESTIONS)
    assert panel.locator(".g-questions b").count() == 0
    page.screenshot(path=str(ARTIFACTS / "documents-guide-1366x768.png"))
    page.locator("#doc-table .body-cell", has_text="Council minutes").first.click()
    expect(panel).to_contain_text("minutes.txt: not computed yet")

    # Uploading a large file: the progress of its embedding is shown while it is indexed.
    big = tmp_path / "big.txt"
    big.write_text("The archive holds every timetable since 1950.\n", encoding="utf-8")
    page.set_input_files("#upload input[type=file]", [str(big)])
    bar = page.locator("#doc-table")  # one bar, over the table
    expect(bar.get_by_text(re.compile(r"Embedding big\.txt")).first).to_be_visible(timeout=20_000)
    expect(bar.get_by_text(re.compile(r"64\s*/\s*512 chunks")).first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "upload-progress-1366x768.png"))
    assistant.ingesting.set()
    expect(page.locator("#upload-status")).to_contain_text("Indexed", timeout=20_000)

    # At phone width the guide and the suggestion buttons wrap: nothing overflows sideways.
    page.set_viewport_size(PHONE)
    page.locator("#doc-table .body-cell", has_text="Harbor timetable").first.click()
    expect(panel.locator(".g-summary")).to_contain_text(FERRY_QUOTE)
    assert no_horizontal_overflow(page)
    page.screenshot(path=str(ARTIFACTS / "documents-guide-390x844.png"), full_page=True)
    page.get_by_role("tab", name="Chat").click()
    expect(page.locator("#suggestions button:visible")).to_have_count(3)
    assert no_horizontal_overflow(page)
    page.screenshot(path=str(ARTIFACTS / "chat-suggestions-390x844.png"), full_page=True)
    assert not errors, errors
    page.context.close()


# --------------------------------------------------------------------------- two users (accounts)

VAULT = "The Heron project vault code is 4417-ALPHA."
ALICE_PW, BOB_PW = "alice-correct-horse", "bob-battery-staple"


@pytest.fixture(scope="module")
def two_users(tmp_path_factory, shared_embedder):
    """A server with accounts: the shared collection holds the canteen note; alice and bob log in."""
    from assistant.accounts import Accounts

    root = tmp_path_factory.mktemp("browser-accounts")
    (root / "canteen.txt").write_text(
        "Title: Staff canteen\n\nThe staff canteen opens at eight and closes at three.\n", encoding="utf-8"
    )
    (root / "heron.txt").write_text(
        f"Title: Heron project notes\n\n{VAULT} It is in the east wing.\n", encoding="utf-8"
    )
    a = Assistant(Settings.load(index_dir=str(root / "index")))
    a.embedder = shared_embedder
    a._llm = EchoLLM()
    a.ingest(str(root / "canteen.txt"))
    accounts = Accounts.of(a.settings)
    accounts.add("alice", ALICE_PW)
    accounts.add("bob", BOB_PW)
    app = build_app(a)
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True)
    yield f"http://127.0.0.1:{port}/", a, root
    app.close()


def log_in(browser, url: str, user: str, password: str):
    """A browser of its own (cookies apart) on Gradio's login page; returns (context, page) once the app shows."""
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.locator("input[type=password]").wait_for()
    page.locator("input:not([type=password]), textarea").first.fill(user)
    page.fill("input[type=password]", password)
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#question textarea")
    expect(page.locator("#whoami")).to_contain_text(f"Logged in as {user}")
    return context, page


def answered(page, n: int) -> str:
    """Wait until the n-th answer is complete (cited or refused); its text."""
    page.wait_for_function(
        """n => { const rows = [...document.querySelectorAll('#chatbot .message-row.bot-row')];
                  if (rows.length < n) return false;
                  const t = rows[n - 1].innerText;
                  return t && !/Searching your documents|Reading the passages|Waiting:/.test(t); }""",
        arg=n,
        timeout=ANSWER_TIMEOUT_MS,
    )
    return bot_messages(page)[n - 1]


def test_two_users_in_two_browsers_never_see_each_others_documents(two_users, browser):
    url, assistant, root = two_users
    ARTIFACTS.mkdir(exist_ok=True)
    alice_ctx, alice = log_in(browser, url, "alice", ALICE_PW)
    errors: list[str] = []
    alice.on("pageerror", lambda e: errors.append(str(e)))

    # Alice's chat asks her documents and the shared ones together by default.
    expect(alice.locator("#collection input")).to_have_value(re.compile("Mine and shared"))
    alice.get_by_role("tab", name="Documents").click()
    expect(alice.locator("#doc-collection input")).to_have_value("user-alice")
    alice.set_input_files("#upload input[type=file]", [str(root / "heron.txt")])
    alice.locator("#upload-status").get_by_text("Indexed").wait_for(timeout=120_000)
    expect(alice.locator("#doc-table")).to_contain_text("Heron project notes")
    alice_doc = str(Path(assistant.settings.uploads) / "user-alice" / "heron.txt")
    alice.get_by_role("tab", name="Chat").click()
    alice.fill("#question textarea", "What is the Heron project vault code?")
    alice.click("#ask-btn")
    assert "4417-ALPHA" in answered(alice, 1)  # her own document...
    alice.fill("#question textarea", "When does the staff canteen open?")
    alice.click("#ask-btn")
    assert "opens at eight" in answered(alice, 2)  # ...and the shared one, in one conversation
    alice.locator("#chatbot a.cite").first.click()
    alice.locator("#evidence .ev-src").get_by_text("heron.txt").wait_for()
    alice.screenshot(path=str(ARTIFACTS / "accounts-alice-1366x768.png"))

    # Bob, in another browser: nothing of hers in his Documents tab, his answers, his passages.
    bob_ctx, bob = log_in(browser, url, "bob", BOB_PW)
    bob.get_by_role("tab", name="Documents").click()
    expect(bob.locator("#doc-collection input")).to_have_value("user-bob")
    expect(bob.locator("#doc-summary")).to_contain_text("0 documents indexed")
    bob.locator("#doc-collection input").click()
    options = bob.locator("[role=option]").all_inner_texts()
    assert options and not any("alice" in o for o in options), options
    bob.keyboard.press("Escape")
    bob.get_by_role("tab", name="Chat").click()
    bob.fill("#question textarea", "What is the Heron project vault code?")
    bob.click("#ask-btn")
    answered(bob, 1)
    # A citation key of alice's conversation only indexes bob's own session.
    bob.evaluate("() => { window.__assistantKey = 'cite-1-1'; document.getElementById('cite-go').click(); }")
    bob.wait_for_timeout(1500)
    shown = bob.content()
    assert "4417-ALPHA" not in shown and "east wing" not in shown and "heron.txt" not in shown
    bob.screenshot(path=str(ARTIFACTS / "accounts-bob-1366x768.png"))

    # Guessed paths and ids from bob's logged-in browser: the file route, and the API with her path.
    for path in (alice_doc, str(root / "heron.txt")):
        r = bob_ctx.request.get(url + f"gradio_api/file={path}")
        assert r.status in (403, 404) and "4417-ALPHA" not in r.text()
    for data in (["vault code", 5, [alice_doc], None], ["vault code", 5, None, "user-alice"]):
        r = bob_ctx.request.post(url + "gradio_api/call/search", data={"data": data})
        assert r.ok, r.text()
        event = r.json()["event_id"]
        result = bob_ctx.request.get(url + f"gradio_api/call/search/{event}").text()
        assert "event: error" in result and "4417-ALPHA" not in result, result

    # Logging out goes back to the login page; the app is closed to that browser again.
    bob.click("#logout-link")
    bob.locator("input[type=password]").wait_for()
    assert bob_ctx.request.get(url + "gradio_api/info").status == 401
    expect(alice.locator("#whoami")).to_contain_text("Logged in as alice")  # her browser is unaffected
    assert not errors, errors
    alice_ctx.close()
    bob_ctx.close()
