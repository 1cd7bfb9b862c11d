"""The web app in a real headless Chromium (Playwright, the apt-installed /usr/bin/chromium).

One conversation drives everything, to keep the real 1.5B LLM to two answers: the seed
question (streamed answer, passages panel, clickable citation, highlighted quote, whole
document), then an uploaded document and a follow-up question about it, answered with a
citation into the upload. Screenshots go to test-artifacts/ (1366x768 and 390x844); a small
laptop one is copied to docs/screenshot.png.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant import Assistant, Settings  # noqa: E402
from assistant.web import build_app, launch  # noqa: E402

# Gradio's local queue statistics use a pandas option pandas deprecates: not ours to fix.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.llm,
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


def test_phone_page_has_no_horizontal_overflow(server, browser):
    url, _ = server
    page = open_app(browser, url, PHONE)
    assert no_horizontal_overflow(page)
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#upload")
    assert no_horizontal_overflow(page)
    page.close()
