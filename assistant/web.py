"""The web app: a thin Gradio layer over ``assistant.Assistant``.

Everything the page does is one call of the Python API: ``stream`` for chat, ``ask`` and
``search`` for the HTTP API, ``documents``/``ingest``/``remove`` for the Documents tab,
``text_of`` to show a citation in its document. No retrieval or answering logic lives here.

Design and trade-offs:

* **Per-browser memory.** A conversation lives in a ``gr.State`` (one copy per browser
  session, kept on the server): the (question, answer) history the API needs for follow-ups,
  the rendered messages, and for each answer its citations and retrieved passages. The
  Assistant itself is stateless, so one instance serves every user; two browsers never see
  each other's conversation. "New chat" empties the state.
* **Streaming.** ``Assistant.stream`` yields the retrieved passages first; the side panel shows
  them at once, while the model is still writing. Answer text arrives one *verified* sentence
  at a time (the core never emits an unchecked claim), so the chat grows by sentences.
* **Clickable citations.** Answer text is escaped (documents and model output are untrusted),
  then each ``[n]`` becomes a link ``<a href="#cite-T-n">`` (T = the answer's turn number in
  this session). One delegated click listener (installed by ``launch(js=...)``) catches those
  links, remembers the key and clicks a hidden button; that button's event reads the key with
  a ``js=`` pre-processor and asks the server to render the evidence panel from the session's
  state: title, date, the passage with the quoted span in ``<mark>``, and a "Show whole
  document" ``<details>`` with the full text, span highlighted and scrolled into view. The key
  only indexes this session's own state, so a crafted link cannot show another user's data;
  the document text is re-read with ``Assistant.text_of`` (the text offsets index into) and
  the quote is checked against it, so a changed file is reported rather than mis-highlighted.
  Passages in the panel use the same mechanism (``#passage-T-i``).
* **Escaping.** All document text, titles, file names and model output that reach HTML go
  through ``esc`` (HTML entities, plus ``$ { } `` ` `` so that no template engine sees them);
  chat text is also Markdown-escaped so a document cannot inject links or formatting.
* **Scope.** A searchable multi-select in the Chat tab ("Ask within") lists the indexed
  documents (label: title, value: source); empty means all of them. Its choices follow the
  Documents table (every ``refresh_docs`` updates the table, and the table's change refreshes
  them), so an upload or removal shows up at once; a selection that was removed meanwhile is
  dropped. ``/ask`` and ``/search`` take an optional ``docs`` list of files or folders too.
* **Uploads** are saved under ``settings.uploads`` with a sanitized *base name only*
  (``safe_filename``): ``../../etc/passwd`` becomes ``passwd`` inside the upload folder.
  Unsupported types are refused before saving; files ingest skips are deleted again and
  reported with the reason. An upload never overwrites another: a name that exists with other
  bytes is saved as ``name (2).ext`` (then 3, ...), and the report says so ("report.md existed;
  saved as report (2).md"); the same bytes again are "already indexed" and change nothing (two
  users uploading their own ``report.md`` to one index keep both). Ingest runs file by file and
  reports as it reads and embeds (``on_progress``), so ``gr.Progress`` shows "Embedding report.pdf
  64/512 chunks" while a large file is indexed, not a frozen bar.
  The retriever notices the store's version change, so uploads are searchable at once.
* **Collections.** A "Collection" chooser in the Chat tab (what to ask) and one in the Documents
  tab (what to list, where uploads go; a new name typed there is created by its first upload) pick
  a collection of the index (``Assistant.using``); changing either moves the other (unless the
  Chat tab's choice, a combined one, already includes the other's) and refreshes the document
  list and the "Ask within" choices. Uploads to another collection than the default
  are saved in ``<uploads>/<collection>/``. ``/ask`` and ``/search`` take an optional ``collection``.
* **Copy, export, feedback, stop.** Each message has Gradio's copy button; a capture listener then
  puts the text *as shown* on the clipboard ("... at noon [1]. Sources: [1] Title"), not the
  message's Markdown source with its escapes and citation links. "Export (Markdown)" downloads this
  session's conversation (questions, answers, numbered citations with title, date, page, section and
  the exact quote), rebuilt from the session's own state after every answer by
  ``feedback.write_export`` into a per-session temporary folder; no other session's data can be in
  it. Thumbs up/down (``feedback_options``) append a line to the feedback file (``feedback.py``:
  question, answer, citations, vote, time) and open an optional comment box whose text is a second
  line for the same answer; ``assistant feedback`` reports them. A vote on an unfinished answer is
  refused. The Stop button, shown while an answer streams, cancels the chat event (Gradio closes the
  generator, which frees the answer slot); the message keeps the verified text so far, marked
  "Stopped", and a step already under way is dropped when it returns.
* **Source guides.** Clicking a row of the Documents table (or choosing the document below it) shows
  its guide: the main points, quoted, and three questions it answers, read from the cache
  (``Assistant.cached_guide``; ``assistant serve`` computes missing ones in the background), or "not
  computed yet". Under the chat box, the corpus's suggested questions (``Assistant.suggested_questions``;
  which ones and how many: ``guide.pick_questions``) are buttons: a click puts the question in the
  box and presses Ask, so it is the ordinary question event (one at a time, Stop, queue). They are
  refreshed on page load, when the document list or the collection changes, and every
  ``SUGGESTIONS_POLL_S`` seconds, so guides written in the background show up; an unchanged list
  sends nothing.
* **Errors** users can cause (empty question, unreachable LLM server, unreadable upload, index
  problems) become ``gr.Warning`` toasts and a message in the chat; anything unexpected is
  logged on the server and shown as one line, never a traceback.
* **API.** ``/ask`` (``assistant ask --json`` shape) and ``/search`` (passages) are plain
  ``gr.api`` endpoints, so ``gradio_client`` and the "Use via API" page document them. ``serve``
  also mounts the OpenAI-compatible ``/v1`` API (``assistant/openai_api.py``) on the same port.
* **Concurrency.** Answers go through the admission queue and answer cache the ``/v1`` API
  shares (``assistant/queueing.py``): ``answer_concurrency`` answers run at once, the rest wait in
  arrival order and the chat shows each waiting user "Waiting: 3rd in line, about 40 s", updated
  as the line moves; beyond ``max_queue`` a question is refused at once (``Busy``), and an
  identical question on an unchanged index is answered from the cache without waiting. Gradio's
  queue is only the transport: the answer group's concurrency is above ours (``gradio_slots``),
  so the waiting happens where positions are known; cheap events (citation clicks, document
  list) are not limited, so they stay snappy while answers run.
  Enter and the Ask button are one listener with ``trigger_mode="once"``: a second question
  from the same browser is ignored until the first answer is done (no interleaved answers).
* **Launching.** Gradio 6 takes theme, CSS and JS in ``launch()``, not ``Blocks()``, so
  ``launch(app, ...)`` here passes them; tests and ``serve`` both use it.
* **Accounts.** With users (``assistant users add``), ``launch`` asks for a login checked against
  their argon2 hashes (``accounts.Policy.login``), and every handler that touches documents asks
  ``accounts.Policy`` what the request's user (``gr.Request.username``) may use: their private
  collection (the default, where uploads go) and the shared one, nothing else. The choosers list
  only those two, and the Chat tab's also both together (``user-NAME+documents``, the default:
  one question over private and shared documents, citing either; ``assistant/combined.py``); a
  name typed in, another user's collection, ``/ask``, ``/search`` or a removal outside them is
  refused with one line. The rule itself lives in ``assistant/accounts.py``. The page says who is
  logged in, with a "Log out" link (Gradio's ``/logout``, this browser only); failed logins are
  limited per name and address (``assistant/logins.py``, a middleware in front of ``/login``).
* **Bounded memory.** A session keeps its last ``history_turns`` questions and answers (older ones
  leave the chat, the follow-up context and the export: ``trim_session``), Gradio keeps at most
  ``max_sessions`` sessions (least recently used forgotten), and the document texts behind the
  evidence panel are cached up to ``text_cache_mb`` (``assistant/textcache.py``). The answer cache
  (``cache_size`` answers) and the queue (``max_queue``) are bounded already. ``benchmarks/soak.py``
  measures the server's RSS under many sessions.
* **Safety defaults.** Binds 127.0.0.1, never creates share links, analytics off, login when
  ``ASSISTANT_AUTH=user:password`` is set. No asset is fetched from the internet (bundled
  fonts, no CDN), so the page works offline.
"""

from __future__ import annotations

import filecmp
import html
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr  # noqa: E402

from . import accounts, combined, feedback, logins, phrases, queueing  # noqa: E402
from .documents import MAX_BYTES, SUPPORTED, UnreadableFile  # noqa: E402
from .documents import text_of as _read_text  # noqa: E402
from .errors import AssistantError, IndexNotReady, InputError, LLMError, SettingsError, StoreError  # noqa: E402
from .guide import SUGGESTIONS  # noqa: E402
from .store import collection_names  # noqa: E402
from .textcache import TextCache  # noqa: E402

log = logging.getLogger(__name__)

ANSWER_CONCURRENCY = 2  # default Gradio concurrency of events without their own limit
QUEUE_SIZE = 200  # waiting events before new ones are turned away
CONTEXT_CHARS = 320  # characters of context shown around a quote in the evidence panel
WHOLE_DOC_CHARS = 400_000  # beyond this, "whole document" shows a window around the quote
USER_ERRORS = AssistantError  # the errors whose message is meant for the user (assistant/errors.py)
SUGGESTIONS_POLL_S = 15.0  # how often an open page looks for new suggested questions (cheap: memoized)

# --------------------------------------------------------------------------- escaping


def esc(text: Any) -> str:
    """Escape text for HTML, and neutralize template syntax (``${}``, ``{{}}``, backticks)."""
    return (
        html.escape(str(text), quote=True)
        .replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


# Markdown punctuation gets a backslash; < > & are left to HTML escaping ("\\&gt;" would show "&gt;").
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#+!|~-])")


def md_escape(text: str) -> str:
    """Text that Markdown shows literally and HTML cannot interpret."""
    return esc(_MD_SPECIAL.sub(r"\\\1", text))


def safe_filename(name: str, default: str = "upload") -> str:
    """A harmless base name for an uploaded file: no folders, no hidden or odd characters.

    ``../../etc/passwd`` -> ``passwd``; ``C:\\x\\report.pdf`` -> ``report.pdf``.
    """
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control characters
    name = re.sub(r"[^\w.\- ()+,]", "_", name).strip(" .")  # also drops leading dots (hidden)
    name = re.sub(r"\s+", " ", name)
    if not name or set(name) <= {"_", "."}:
        name = default
    stem, suffix = os.path.splitext(name)
    if len(name) > 120:
        name = stem[: 120 - len(suffix[:20])] + suffix[:20]
    return name


def inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


# --------------------------------------------------------------------------- rendering

_CITE = phrases.CITATION_RE


def render_answer(text: str, turn: int, titles: dict[int, str] | None = None, streaming: bool = False) -> str:
    """Markdown for an answer: escaped text, each [n] a link to citation n of this turn."""
    lines = []
    for line in text.split("\n"):
        bullet = line.startswith("- ")
        body = line[2:] if bullet else line
        out, pos = [], 0
        for m in _CITE.finditer(body):
            out.append(md_escape(body[pos : m.start()]))
            nums = [int(x) for x in re.findall(r"\d+", m.group(1))]
            out.append("".join(_cite_link(turn, n, (titles or {}).get(n)) for n in nums))
            pos = m.end()
        out.append(md_escape(body[pos:]))
        lines.append(("- " if bullet else "") + "".join(out))
    md = "\n".join(lines)
    if streaming:
        md += " ▍"
    return md


def _cite_link(turn: int, n: int, title: str | None = None) -> str:
    tip = f' title="{esc(title)}"' if title else ""
    return f'<a href="#cite-{turn}-{n}" class="cite"{tip}>&#91;{n}&#93;</a>'


def sources_line(turn: int, citations: list[dict]) -> str:
    if not citations:
        return ""
    links = " ".join(
        f'<a href="#cite-{turn}-{c["n"]}" class="cite">&#91;{c["n"]}&#93; {esc(c["title"])}{_page(c)}</a>'
        for c in citations
    )
    return f'\n\n<span class="sources">Sources: {links}</span>'


def _page(item: dict) -> str:
    """' · p. 12' after a title when the quote has a page (PDFs), else ''."""
    return f" · p. {int(item['page'])}" if item.get("page") else ""


def passages_html(passages: list[dict], turn: int | None, heading: str, note: str = "") -> str:
    if not passages:
        return f'<div class="panel-title">{esc(heading)}</div><div class="panel-empty">{esc(note or "No passages yet.")}</div>'
    items = []
    for i, p in enumerate(passages):
        snippet = " ".join(p["text"].split())
        snippet = snippet[:360] + ("…" if len(snippet) > 360 else "")
        link = f' <a href="#passage-{turn}-{i}" class="show-passage">show in document</a>' if turn is not None else ""
        score = f" · score {p['score']:.2f}" if (p.get("score") or 0) >= 0.005 else ""
        items.append(
            f'<li class="passage"><div class="p-head"><b>{esc(p["title"])}</b>'
            f'<span class="p-meta"> · {esc(p["date"])}{score}</span></div>'
            f'<div class="p-text">{esc(snippet)}</div>'
            f'<div class="p-foot"><span class="p-src">{esc(Path(p["source"]).name)}</span>{link}</div></li>'
        )
    extra = f'<div class="panel-note">{esc(note)}</div>' if note else ""
    return f'<div class="passages"><div class="panel-title">{esc(heading)}</div>{extra}<ol>{"".join(items)}</ol></div>'


EVIDENCE_HINT = (
    '<div class="panel-title">Evidence</div><div class="panel-empty">Click a citation such as '
    "<b>&#91;1&#93;</b> in an answer to see its source passage here, highlighted in the document.</div>"
)
PASSAGES_HINT = (
    '<div class="panel-title">Passages</div><div class="panel-empty">The passages found for your '
    "question appear here as soon as they are retrieved, before the answer is written.</div>"
)


def whoami_html(user: str | None) -> str:
    """ "Logged in as NAME · Log out" (nothing without a login). The link is Gradio's own ``/logout``
    route, for this browser only (``all_session=false``; its default would end the user's every
    session): it deletes the login cookie and goes back to the login page."""
    if not user:
        return ""
    return (
        f'<div class="whoami">Logged in as <b class="whoami-name">{esc(user)}</b> · '
        '<a href="logout?all_session=false" id="logout-link">Log out</a></div>'
    )


GUIDE_HINT = (
    '<div class="panel-title">Guide</div><div class="panel-empty">Click a document in the table to see its '
    "guide: its main points and questions it answers.</div>"
)


def guide_html(source: str, guide: dict | None) -> str:
    """The Documents tab's guide panel: a document's main points (quoted) and suggested questions."""
    name = esc(Path(source).name)
    if not guide:
        return (
            f'<div class="panel-title">Guide</div><div class="guide-missing"><b>{name}</b>: not computed yet. '
            "<code>assistant serve</code> writes guides in the background, and <code>assistant guide "
            f"{esc(source)}</code> writes this one (seconds of LLM time each).</div>"
        )
    points = "".join(f"<li>“{esc(' '.join(p['quote'].split()))}”{esc(_page(p))}</li>" for p in guide.get("summary", []))
    questions = "".join(f"<li>{esc(q)}</li>" for q in guide.get("questions", []))
    return (
        f'<div class="panel-title">Guide</div><div class="guide"><div class="g-head"><b>{esc(guide.get("title") or name)}</b> '
        f'<span class="p-src">{name}</span></div>'
        f'<div class="g-label">Main points</div><ol class="g-summary">{points or "<li>(none)</li>"}</ol>'
        f'<div class="g-label">Questions it answers</div><ul class="g-questions">'
        f"{questions or '<li>(none that the assistant could check)</li>'}</ul></div>"
    )


TEXTS = TextCache(64 * 1024 * 1024, _read_text)  # resized from ``text_cache_mb`` by build_app


def document_text(source: str) -> str:
    """``Assistant.text_of`` through the byte-bounded cache (``assistant/textcache.py``)."""
    return TEXTS.text(source)


def evidence_html(item: dict, label: str) -> str:
    """The evidence panel for a citation or passage: quote highlighted in context, whole document."""
    source, start, end = item["source"], int(item["start"]), int(item["end"])
    expected = item.get("quote") if item.get("quote") is not None else item.get("text", "")
    head = (
        f'<div class="panel-title">Evidence</div><div class="ev-head"><span class="ev-label">{esc(label)}</span> <b class="ev-title">{esc(item["title"])}</b>'
        f'<span class="ev-date"> · {esc(item["date"])}{_page(item)}</span></div>'
        f'<div class="ev-src" title="{esc(source)}">{esc(source)}</div>'
    )
    try:
        text = document_text(source)
    except (OSError, UnreadableFile) as e:
        return (
            f'<div class="evidence">{head}<div class="ev-warn">The document cannot be read any more '
            f"({esc(getattr(e, 'reason', None) or e)}); this is the quote as indexed:</div>"
            f'<blockquote class="ev-passage"><mark>{esc(expected)}</mark></blockquote></div>'
        )
    if text[start:end] != expected:
        return (
            f'<div class="evidence">{head}<div class="ev-warn">The document has changed since it was indexed; '
            f"this is the quote as indexed (re-upload or re-ingest the file to refresh it):</div>"
            f'<blockquote class="ev-passage"><mark>{esc(expected)}</mark></blockquote></div>'
        )
    lo = _boundary_before(text, max(0, start - CONTEXT_CHARS), start)
    hi = _boundary_after(text, min(len(text), end + CONTEXT_CHARS), end)
    passage = (
        ("… " if lo > 0 else "")
        + esc(text[lo:start])
        + f"<mark>{esc(text[start:end])}</mark>"
        + esc(text[end:hi])
        + (" …" if hi < len(text) else "")
    )
    if len(text) > WHOLE_DOC_CHARS:
        w0, w1 = max(0, start - WHOLE_DOC_CHARS // 2), min(len(text), end + WHOLE_DOC_CHARS // 2)
        note = f'<div class="panel-note">Long document: showing characters {w0:,}–{w1:,} of {len(text):,}.</div>'
    else:
        w0, w1, note = 0, len(text), ""
    whole = esc(text[w0:start]) + f'<mark class="doc-mark">{esc(text[start:end])}</mark>' + esc(text[end:w1])
    return (
        f'<div class="evidence">{head}<blockquote class="ev-passage">{passage}</blockquote>'
        f'<details class="whole-doc"><summary>Show whole document</summary>{note}'
        f'<div class="doc-text">{whole}</div></details></div>'
    )


def _boundary_before(text: str, lo: int, start: int) -> int:
    """Start the context at a sentence or line start when one is near."""
    window = text[lo:start]
    for sep in ("\n", ". ", "? ", "! "):
        i = window.find(sep)
        if i != -1 and i < len(window) - 1:
            return lo + i + len(sep)
    return lo


def _boundary_after(text: str, hi: int, end: int) -> int:
    window = text[end:hi]
    best = -1
    for sep in ("\n", ". ", "? ", "! "):
        i = window.rfind(sep)
        best = max(best, i + 1 if i != -1 else -1)
    return end + best if best > 0 else hi


def _passage_dict(p) -> dict:
    c = p.chunk
    return {
        "source": c.source,
        "title": c.title,
        "date": c.date,
        "start": c.start,
        "end": c.end,
        "text": c.text,
        "score": p.score,
        "page": c.page,
    }


def _user_message(e: BaseException) -> str:
    if isinstance(e, LLMError):
        return f"The language model could not answer: {e}"
    if isinstance(e, StoreError):
        return f"The document index is not available: {e}"
    if isinstance(e, UnreadableFile):
        return f"Cannot read the file: {e}"
    return str(e)


# --------------------------------------------------------------------------- uploads


@dataclass
class UploadResult:
    saved: list[Path] = field(default_factory=list)  # where the files landed (inside the upload folder)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    notes: list[str] = field(default_factory=list)  # "report.md existed; saved as report (2).md"

    @property
    def done(self) -> str:
        return ", ".join(
            f"{len(xs)} {label}"
            for xs, label in ((self.added, "added"), (self.updated, "updated"), (self.unchanged, "unchanged"))
            if xs
        )

    def markdown(self) -> str:
        lines = [f"**Indexed:** {self.done}. You can ask about them now."] if self.done else []
        lines += [f"- {md_escape(note)}" for note in self.notes]
        lines += [f"- **Skipped** {md_escape(name)}: {md_escape(reason)}" for name, reason in self.skipped]
        return "\n".join(lines)


def upload_folder(settings) -> Path:
    """Where uploads to the settings' collection are saved: ``settings.uploads`` for the default
    collection, ``<uploads>/<collection>`` for another (a name may be uploaded to each)."""
    from .core import DEFAULT_COLLECTION

    base = Path(settings.uploads)
    return base if settings.collection == DEFAULT_COLLECTION else base / settings.collection


def _same_bytes(a: str | os.PathLike, b: Path) -> bool:
    try:
        return os.path.getsize(a) == b.stat().st_size and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def free_name(folder: Path, name: str, upload: str | os.PathLike) -> tuple[Path, bool]:
    """(where to save an upload named ``name``, whether that file already holds the same bytes).

    Never an existing file with other bytes: ``report.md``, then ``report (2).md``, ``report (3).md``...
    A candidate with identical bytes is reused (the same upload again changes nothing).
    """
    stem, suffix = os.path.splitext(name)
    for n in range(1, 10_000):
        dest = folder / (name if n == 1 else f"{stem} ({n}){suffix}")
        if not dest.exists():
            return dest, False
        if _same_bytes(upload, dest):
            return dest, True
    raise OSError(f"too many files named like {name}")


def _upload_steps(progress, name: str, i: int, n: int):
    """ingest's ``on_progress`` for upload i of n, shown by ``gr.Progress``: "Embedding report.pdf 64/512 chunks"."""
    of = f" (file {i + 1} of {n})" if n > 1 else ""

    def step(stage: str, done: int, total: int) -> None:
        if stage == "embedding":
            progress((done, total), desc=f"Embedding {name}{of}", unit="chunks")
        else:
            progress((i, n), desc=f"Reading {name}", unit="files")

    return step


def add_uploads(assistant, files, progress=None) -> UploadResult:
    """Save uploaded files in the collection's upload folder (sanitized base names) and index them.

    ``files`` holds paths (the base name is the upload's name) or ``(path, original_name)``
    pairs. Unsupported types are refused before saving; files ingest skips are deleted again.
    A name that exists is never overwritten (see ``free_name``); ``notes`` says what happened.
    """
    uploads = upload_folder(assistant.settings)
    result = UploadResult()
    identical: dict[Path, str] = {}  # earlier uploads with the same bytes -> the name given now
    try:
        uploads.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        result.skipped.append((str(uploads), f"cannot create the upload folder: {e.strerror or e}"))
        return result
    for f in files:
        path, original = f if isinstance(f, (tuple, list)) else (f, getattr(f, "orig_name", None))
        name = safe_filename(original or os.path.basename(str(path)))
        if os.path.splitext(name)[1].lower() not in SUPPORTED:
            result.skipped.append((name, f"unsupported file type (supported: {', '.join(sorted(SUPPORTED))})"))
            continue
        try:
            dest, same = free_name(uploads, name, path)
            if not inside(dest, uploads):  # belt and braces: safe_filename already guarantees it
                result.skipped.append((name, "unsafe file name"))
                continue
            if same:
                if dest not in result.saved:
                    identical[dest] = name
            else:
                shutil.copyfile(str(path), dest)
        except OSError as e:
            result.skipped.append((name, f"cannot save: {e.strerror or e}"))
            continue
        if dest.name != name and not same:
            result.notes.append(f"{name} existed; saved as {dest.name}")
        if dest not in result.saved:
            result.saved.append(dest)
    for i, dest in enumerate(result.saved):
        steps = {}
        if progress is not None:
            progress((i, len(result.saved)), desc=f"Indexing {dest.name}", unit="files")
            steps["on_progress"] = _upload_steps(progress, dest.name, i, len(result.saved))
        try:
            report = assistant.ingest(str(dest), progress=False, **steps)
        except USER_ERRORS as e:
            result.skipped.append((dest.name, _user_message(e)))
            if dest not in identical:  # an earlier upload's file is not this upload's to delete
                dest.unlink(missing_ok=True)
            continue
        for path, reason in report.skipped:
            result.skipped.append((Path(path).name, reason))
            if dest not in identical:  # an earlier upload's file is not this upload's to delete
                Path(path).unlink(missing_ok=True)
        if dest in identical and report.unchanged:
            given = identical[dest]
            where = "" if given == dest.name else f" as {dest.name}"
            result.notes.append(f"{given} is already indexed{where} (the same file); nothing changed")
        result.added += report.added
        result.updated += report.updated
        result.unchanged += report.unchanged
    if progress is not None and result.saved:
        progress((len(result.saved), len(result.saved)), desc="Done", unit="files")
    result.saved = [d for d in result.saved if d.exists()]
    return result


# --------------------------------------------------------------------------- the app

CSS = """
.gradio-container { max-width: 1440px !important; }
#app-title .app-name { font-size: 1.5rem; font-weight: 600; line-height: 1.3; }
#evidence, #passages { padding: 10px 12px; border: 1px solid var(--border-color-primary); border-radius: var(--block-radius);
  background: var(--block-background-fill); }
.sources, .understood { font-size: .85em; opacity: .9; }
.understood { font-style: italic; opacity: .7; }
.sources a.cite { font-weight: 500; margin-right: .6em; }
#app-title .app-sub { margin: 2px 0 0; opacity: .75; }
#chat-col, #side-col { min-width: 0; }
#evidence, #passages { overflow-wrap: anywhere; }
#passages .passages ol { max-height: 52vh; overflow-y: auto; padding-right: 4px; }
.panel-title { font-weight: 600; margin: 2px 0 6px; }
.panel-empty { opacity: .7; font-size: .92em; padding: 6px 2px; }
.panel-note { font-size: .85em; opacity: .75; margin-bottom: 6px; }
.passages ol { margin: 0; padding-left: 1.3em; }
.passage { margin: 0 0 10px; font-size: .9em; line-height: 1.4; }
.p-meta, .ev-date { opacity: .7; font-weight: normal; }
.p-text { margin: 2px 0; }
.p-foot { font-size: .85em; opacity: .85; display: flex; gap: .8em; flex-wrap: wrap; }
.p-src, .ev-src { font-family: var(--font-mono); font-size: .8em; opacity: .7; overflow-wrap: anywhere; }
.evidence { font-size: .95em; line-height: 1.5; }
.ev-label { display: inline-block; background: var(--color-accent-soft); border-radius: 6px; padding: 0 6px; font-weight: 600; }
.ev-warn { color: var(--error-text-color, #b91c1c); font-size: .9em; margin: 6px 0; }
.ev-passage { margin: 8px 0; padding: 8px 12px; border-left: 3px solid var(--color-accent); background: var(--background-fill-secondary); white-space: pre-wrap; }
.evidence mark, .doc-text mark { background: #fde68a; color: #111; padding: 0 2px; border-radius: 2px; }
.whole-doc summary { cursor: pointer; font-weight: 600; color: var(--color-accent); margin: 4px 0; }
.doc-text { white-space: pre-wrap; max-height: 340px; overflow-y: auto; padding: 8px 10px; margin-top: 6px;
  border: 1px solid var(--border-color-primary); border-radius: 8px; font-size: .9em; line-height: 1.5;
  background: var(--background-fill-primary); }
a.cite, a.show-passage { color: var(--color-accent); text-decoration: none; font-weight: 600; cursor: pointer; }
a.cite:hover, a.show-passage:hover { text-decoration: underline; }
a.cite.active-cite { background: #fde68a; color: #111; border-radius: 3px; }
#cite-key, #cite-go { display: none !important; }
#doc-table th[data-heading="1"] span, #doc-table th[data-heading="2"] span, #doc-table [data-col="1"] span,
#doc-table [data-col="2"] span, #doc-table .sizing-body td:nth-child(2) .cell-wrap, #doc-table .sizing-body td:nth-child(3) .cell-wrap
  { white-space: nowrap !important; overflow-wrap: normal !important; word-break: keep-all !important; }
#doc-table [data-col="3"] span, #doc-table .sizing-body td:nth-child(4) .cell-wrap { overflow-wrap: anywhere; }
#doc-table .table-wrap { overflow-x: auto; }
#chat-actions { gap: 8px; }
#whoami { min-height: 0; }
.whoami { text-align: right; font-size: .9em; opacity: .85; margin-top: -6px; }
#feedback-note { font-size: .85em; opacity: .8; min-height: 0; }
#chat-row { align-items: flex-start; }
#suggestions { gap: 6px; flex-wrap: wrap; }
#suggestions button { white-space: normal; text-align: left; flex: 0 1 auto; min-width: 0 !important; font-weight: normal; }
#doc-guide { padding: 10px 12px; border: 1px solid var(--border-color-primary); border-radius: var(--block-radius);
  background: var(--block-background-fill); overflow-wrap: anywhere; }
.guide { font-size: .95em; line-height: 1.45; }
.g-label { font-weight: 600; margin: 8px 0 2px; font-size: .9em; opacity: .85; }
.g-summary, .g-questions { margin: 0; padding-left: 1.4em; }
.guide-missing { opacity: .8; font-size: .92em; }
@media (max-width: 640px) {
  .gradio-container { padding: 0 6px !important; }
  #passages .passages ol { max-height: none; }
}
"""

JS = r"""
() => {
  if (window.__assistantWired) return;
  window.__assistantWired = true;
  // Citation and passage links live inside chat and panel HTML: one delegated listener.
  document.addEventListener('click', (e) => {
    // A message's copy button (the first of its buttons): Gradio copies the message's Markdown source
    // (escapes, citation links); once its handler has run, put the text as shown on the clipboard.
    const btn = e.target.closest && e.target.closest('#chatbot .message-buttons button');
    if (btn && btn === btn.parentElement.querySelector('button')) {
      let box = btn.parentElement;
      while (box && !box.querySelector('[data-testid="bot"], [data-testid="user"]')) box = box.parentElement;
      const shown = box ? box.querySelectorAll('[data-testid="bot"] .message-content, [data-testid="user"] .message-content') : [];
      const text = shown.length ? shown[shown.length - 1].innerText.trim() : '';
      if (text && navigator.clipboard) setTimeout(() => navigator.clipboard.writeText(text).catch(() => {}), 0);
      return;
    }
    const a = e.target.closest && e.target.closest('a[href^="#cite-"], a[href^="#passage-"]');
    if (!a) return;
    e.preventDefault();
    e.stopPropagation();
    window.__assistantKey = a.getAttribute('href').slice(1);
    document.querySelectorAll('a.active-cite').forEach((x) => x.classList.remove('active-cite'));
    a.classList.add('active-cite');
    const go = document.getElementById('cite-go');
    if (go) go.click();
  }, true);
  // "Show whole document": scroll the highlighted span into view inside the text box.
  document.addEventListener('toggle', (e) => {
    const d = e.target;
    if (!(d instanceof HTMLDetailsElement) || !d.classList.contains('whole-doc') || !d.open) return;
    const box = d.querySelector('.doc-text'), mark = d.querySelector('mark');
    if (box && mark) box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - box.clientHeight / 3);
  }, true);
}
"""

PRESS_ASK = """
() => {
  const el = document.getElementById('ask-btn');
  const btn = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
  if (btn) btn.click();
}
"""

SCROLL_TO_EVIDENCE = """
() => {
  const el = document.getElementById('evidence');
  if (!el) return;
  const r = el.getBoundingClientRect();
  if (r.top < 0 || r.top > window.innerHeight - 80) el.scrollIntoView({behavior: 'smooth', block: 'start'});
}
"""


def gradio_slots(gate: queueing.Gate) -> int:
    """Gradio workers for answer events: every running and waiting answer, and a few more so that a
    question beyond ``max_queue`` reaches our queue (and its Busy message) instead of Gradio's."""
    return gate.queue.concurrency + gate.queue.max_queue + 8


def _new_session() -> dict:
    return {"history": [], "messages": [], "turns": {}, "next_turn": 1, "last_vote": None}


def _turn_of_message(session: dict | None, index) -> dict | None:
    """The turn record whose answer is chat message ``index`` (a like event's index)."""
    if isinstance(index, (list, tuple)):
        index = index[0] if index else None
    for record in (session or {}).get("turns", {}).values():
        if record.get("message") == index:
            return record
    return None


def trim_session(session: dict, keep: int) -> int:
    """Keep a session's last ``keep`` turns (``history_turns``): older questions and answers leave the
    follow-up history, the chat, the citations and passages, and the export. Returns turns dropped.

    A turn is two chat messages (question, answer) in order, so dropping the oldest turns drops a
    prefix of the messages; the kept turns' message numbers (what a thumb's like event names)
    shift by as much.
    """
    turns = session.get("turns", {})
    old = sorted(turns)[: max(0, len(turns) - keep)]
    if not old:
        return 0
    first_kept = turns[sorted(turns)[len(old)]]["message"] - 1 if len(turns) > len(old) else len(session["messages"])
    for t in old:
        del turns[t]
    session["messages"] = session["messages"][first_kept:]
    for record in turns.values():
        record["message"] -= first_kept
    history = session["history"]
    session["history"] = history[max(0, len(history) - keep) :]  # (not [-keep:]: keep may be 0)
    session["dropped"] = session.get("dropped", 0) + len(old)
    return len(old)


def _answered_turns(session: dict | None) -> list[dict]:
    """This session's turns that have an answer (complete, or stopped part-way), in order."""
    turns = (session or {}).get("turns", {})
    return [turns[t] for t in sorted(turns) if turns[t].get("answer") is not None]


def build_app(assistant) -> gr.Blocks:
    """The Gradio Blocks app over an ``Assistant``. Launch it with ``launch(app, ...)``."""
    settings = assistant.settings
    gate = queueing.gate(assistant)
    policy = accounts.Policy(settings)  # with users: logins and private collections (else everyone, everything)

    def access(request: gr.Request | None) -> accounts.Access:
        """What this request's user may read and write (``accounts.Access``)."""
        return policy.for_user(getattr(request, "username", None))

    # ---- chat ---------------------------------------------------------------------------
    votes = feedback.FeedbackStore.of(settings)

    def export_update(session: dict | None, collection: str | None = None):
        """The export button's file: this session's answered turns as Markdown (none yet: disabled)."""
        turns = _answered_turns(session)
        if not turns or session is None:
            return gr.update(value=None, interactive=False)
        try:
            folder = session.get("export_dir") or tempfile.mkdtemp(prefix="assistant-export-")
            session["export_dir"] = folder
            path = feedback.write_export(turns, folder, collection=collection or settings.collection)
        except OSError as e:
            log.warning("cannot write the conversation export: %s", e)
            return gr.update(value=None, interactive=False)
        return gr.update(value=str(path), interactive=True)

    def respond(
        question: str, docs: list[str] | None, collection: str | None, session: dict, request: gr.Request | None = None
    ):
        """The chat event: the answer's steps, with the Stop button shown while they run and the
        export refreshed at the end. Outputs: question, chat, passages, session, stop, export."""
        session = session or _new_session()
        shown = False
        for out in answer_steps(question, docs, collection, session, access(request)):
            yield (*out, gr.skip() if shown else gr.update(visible=True), gr.skip())
            shown = True
        yield (
            gr.skip(),
            list(session["messages"]),
            gr.skip(),
            session,
            gr.update(visible=False),
            export_update(session, collection),
        )

    def answer_steps(
        question: str, docs: list[str] | None, collection: str | None, session: dict, who: accounts.Access
    ):
        question = " ".join((question or "").split())
        if not question:
            gr.Warning("Type a question about your documents first.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        trim_session(session, settings.history_turns - 1)  # room for this turn: memory stays bounded
        turn = session["next_turn"]
        session["next_turn"] += 1
        messages = session["messages"]
        messages.append({"role": "user", "content": md_escape(question)})
        messages.append({"role": "assistant", "content": "_Searching your documents…_"})
        record: dict[str, Any] = {
            "citations": [],
            "passages": [],
            "question": question,
            "id": feedback.new_id(),
            "message": len(messages) - 1,  # the chat message of the answer: likes name it by index
            "text": "",
        }
        session["turns"][turn] = record
        yield "", list(messages), PASSAGES_HINT, session

        text = ""
        try:
            for event in gate.stream(question, list(session["history"]), docs or None, collection=who.read(collection)):
                if record.get("stopped"):  # the Stop button: the message is already final
                    return
                if event.kind == "waiting":  # in line: position and estimate, until the turn starts
                    messages[-1]["content"] = f"_⏳ {esc(event.data.text())}…_"
                    yield gr.skip(), list(messages), gr.skip(), session
                elif event.kind == "passages":
                    record["passages"] = [_passage_dict(p) for p in event.data]
                    messages[-1]["content"] = "_Reading the passages and writing an answer…_"
                    panel = passages_html(
                        record["passages"],
                        turn,
                        "Retrieved passages",
                        note="" if record["passages"] else "Nothing in the index matches.",
                    )
                    yield gr.skip(), list(messages), panel, session
                elif event.kind == "citation":
                    record["citations"].append(event.data.to_dict())
                elif event.kind == "text":
                    text += event.data
                    record["text"] = text
                    messages[-1]["content"] = render_answer(text, turn, streaming=True)
                    yield gr.skip(), list(messages), gr.skip(), session
                elif event.kind == "answer":
                    answer = event.data
                    record["citations"] = [c.to_dict() for c in answer.citations]
                    record.update(answer=answer.answer, refused=answer.refused, done=True)
                    if answer.refused:
                        record["passages"] = [_passage_dict(p) for p in answer.passages]
                        content = render_answer(answer.answer, turn)
                        panel = passages_html(
                            record["passages"],
                            turn,
                            "Closest passages",
                            note="No passage answers the question; these came closest."
                            if record["passages"]
                            else "The index has no documents yet: add some in the Documents tab.",
                        )
                    else:
                        titles = {c["n"]: c["title"] for c in record["citations"]}
                        content = render_answer(answer.answer, turn, titles) + sources_line(turn, record["citations"])
                        if answer.standalone_question and answer.standalone_question.lower() != question.lower():
                            content += f'\n\n<span class="understood">Understood as: {md_escape(answer.standalone_question)}</span>'
                        panel = passages_html(record["passages"], turn, "Retrieved passages")
                    if answer.scope:
                        content += scope_note(answer.scope)
                    if answer.timings.get("cached"):
                        content += '\n\n<span class="understood">Answered from the cache: same question, same documents.</span>'
                    messages[-1]["content"] = content
                    session["history"].append((question, answer.answer))
                    yield gr.skip(), list(messages), panel, session
        except USER_ERRORS as e:
            msg = _user_message(e)
            gr.Warning(msg)
            messages[-1]["content"] = "⚠️ " + md_escape(msg)
            yield gr.skip(), list(messages), gr.skip(), session
        except Exception as e:  # never a traceback in the page; the server log has it
            log.exception("answering %r failed", question)
            messages[-1]["content"] = "⚠️ " + md_escape(f"Something went wrong: {type(e).__name__}: {e}")
            yield gr.skip(), list(messages), gr.skip(), session

    def new_chat():
        none = gr.update(value=None, interactive=False)
        return "", [], EVIDENCE_HINT, PASSAGES_HINT, _new_session(), none, gr.update(visible=False), ""

    def stop_answer(session: dict | None, collection: str | None = None):
        """The Stop button (Gradio cancels the chat event): the answer so far, marked stopped."""
        turns = (session or {}).get("turns", {})
        record = turns[max(turns)] if turns else None
        if session is None or record is None or record.get("done") or record.get("stopped"):
            return gr.skip(), gr.skip(), gr.update(visible=False), gr.skip()
        record.update(stopped=True, answer=record.get("text", ""))
        partial = render_answer(record["answer"], max(turns)) if record["answer"] else ""
        session["messages"][record["message"]]["content"] = (partial + "\n\n" if partial else "") + "_Stopped._"
        return list(session["messages"]), session, gr.update(visible=False), export_update(session, collection)

    def vote(session: dict | None, collection: str | None, like: gr.LikeData, request: gr.Request | None = None):
        """A thumb on an answer: one line in the feedback file; then an optional comment box."""
        record = _turn_of_message(session, like.index)
        if session is None or record is None or not record.get("done"):
            gr.Info("Only a finished answer can be rated.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        choice = "up" if like.liked is True else "down" if like.liked is False else "none"
        try:
            votes.add(
                answer_id=record["id"],
                question=record["question"],
                answer=record["answer"],
                vote=choice,
                citations=record["citations"],
                refused=bool(record.get("refused")),
                collection=collection or settings.collection,
                user=access(request).user,
            )
        except OSError as e:
            gr.Warning(f"Cannot save the feedback: {e.strerror or e}")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        record["vote"] = choice
        session["last_vote"] = record["id"] if choice != "none" else None
        if choice == "none":
            return gr.update(visible=False), gr.update(value=""), "Rating removed.", session
        hint = "What was wrong or missing?" if choice == "down" else "What was useful?"
        note = "Thanks: your rating was saved. You can add a comment."
        return gr.update(visible=True), gr.update(value="", placeholder=hint), note, session

    def send_comment(
        comment: str, session: dict | None, collection: str | None = None, request: gr.Request | None = None
    ):
        """The optional comment after a vote: a new line for the same answer (the report keeps the last)."""
        record = next(
            (r for r in (session or {}).get("turns", {}).values() if r.get("id") == (session or {}).get("last_vote")),
            None,
        )
        comment = (comment or "").strip()
        if record is None or not comment:
            gr.Warning(
                "Rate an answer with 👍 or 👎 first, then write a comment."
                if record is None
                else "The comment is empty."
            )
            return gr.skip(), gr.skip(), gr.skip()
        try:
            votes.add(
                answer_id=record["id"],
                question=record["question"],
                answer=record["answer"],
                vote=record.get("vote", "none"),
                citations=record["citations"],
                comment=comment,
                refused=bool(record.get("refused")),
                collection=collection or settings.collection,
                user=access(request).user,
            )
        except OSError as e:
            gr.Warning(f"Cannot save the comment: {e.strerror or e}")
            return gr.skip(), gr.skip(), gr.skip()
        return gr.update(visible=False), gr.update(value=""), "Thanks: your comment was saved."

    def show_evidence(key: str, session: dict):
        m = re.fullmatch(r"(cite|passage)-(\d+)-(\d+)", (key or "").strip())
        record = (session or {}).get("turns", {}).get(int(m.group(2))) if m else None
        if not record or not m:
            return '<div class="panel-title">Evidence</div><div class="panel-empty">That answer is no longer in this conversation.</div>'
        kind, n = m.group(1), int(m.group(3))
        try:
            if kind == "cite":
                item = next((c for c in record["citations"] if c["n"] == n), None)
                if item is None:
                    return (
                        '<div class="panel-title">Evidence</div><div class="panel-empty">The sources of this '
                        "answer appear when it is complete.</div>"
                    )
                return evidence_html(item, f"[{n}]")
            if n >= len(record["passages"]):
                return '<div class="panel-title">Evidence</div><div class="panel-empty">That passage is no longer available.</div>'
            return evidence_html(record["passages"][n], f"Passage {n + 1}")
        except Exception as e:
            log.exception("rendering evidence %r failed", key)
            return f'<div class="ev-warn">Cannot show this source: {esc(e)}</div>'

    # ---- documents ----------------------------------------------------------------------
    def on(collection: str | None):
        """The Assistant of the collection chosen in the page (empty: the app's own)."""
        return assistant.using(collection) if collection and collection != settings.collection else assistant

    def documents_of(collection: str | None) -> list[dict]:
        try:
            return on(collection).documents()
        except IndexNotReady:  # a new name typed in the chooser: empty until something is uploaded to it
            return []

    def collection_choices(*also: str | None, who: accounts.Access = accounts.LOCAL) -> list[str]:
        """The chooser's names: the index's collections, the app's own and ``also`` (a new name, not yet
        created); with accounts, the user's own and the shared one only."""
        try:
            names = set(collection_names(settings))
        except StoreError:
            names = set()
        return who.visible(names | {settings.collection} | {n for n in also if n and not combined.is_combined(n)})

    def chat_choices(*also: str | None, who: accounts.Access = accounts.LOCAL) -> list:
        """The Chat tab's chooser: with accounts, first everything the user may read together (the
        default: private and shared in one question), then each collection alone."""
        names = collection_choices(*also, who=who)
        if who.together is None:
            return names
        both = (f"Mine and shared ({' + '.join(who.readable or ())})", who.together)
        return [both] + [(f"{n} (mine)" if n == who.default else f"{n} (shared)", n) for n in names]

    def doc_rows(collection: str | None = None):
        try:
            docs = sorted(documents_of(collection), key=lambda d: (d["title"].lower(), d["source"]))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            docs = []
        rows = [[d["title"], d["date"], d["chunks"], d["source"]] for d in docs]
        choices = [(f"{d['title']} — {Path(d['source']).name}", d["source"]) for d in docs]
        return rows, choices

    def scope_note(scope: list[str]) -> str:
        """Which documents an answer came from (file names: titles would cost a read of the index)."""
        names = ", ".join(Path(s).name for s in scope[:3]) + (f" and {len(scope) - 3} more" if len(scope) > 3 else "")
        return f'\n\n<span class="understood">Within: {md_escape(names)}</span>'

    def refresh_scope(selected=None, collection=None, request: gr.Request | None = None):
        """The "Ask within" choices: every indexed document by title (file name added to tell twins apart)."""
        try:
            docs = documents_of(access(request).read(collection))
        except USER_ERRORS:
            return gr.skip()  # refresh_docs already warned
        titles = [d["title"] or Path(d["source"]).name for d in docs]
        twins = Counter(titles)
        options = [
            (t if twins[t] == 1 else f"{t} — {Path(d['source']).name}", d["source"]) for t, d in zip(titles, docs)
        ]
        values = {d["source"] for d in docs}
        return gr.update(choices=options, value=[v for v in (selected or []) if v in values])

    def refresh_docs(selected=None, collection=None, request: gr.Request | None = None):
        try:
            collection = access(request).read(collection)
        except USER_ERRORS as e:
            gr.Warning(_user_message(e))
            return gr.update(value=[]), gr.update(choices=[], value=None), ""
        rows, choices = doc_rows(collection)
        values = {c[1] for c in choices}
        summary = f"{len(rows)} document{'s' if len(rows) != 1 else ''} indexed."
        return (
            gr.update(value=rows),
            gr.update(choices=choices, value=selected if selected in values else None),
            summary,
        )

    def add_files(files, collection=None, progress=gr.Progress(), request: gr.Request | None = None):
        files = [f for f in (files or []) if f]
        if not files:
            gr.Warning("Choose one or more files to upload first.")
            return (gr.skip(),) * 6 + ("",)
        try:
            who = access(request)
            collection = who.write(collection)  # a user's uploads go to their own collection only
            target = on(collection)
        except USER_ERRORS as e:
            gr.Warning(_user_message(e))
            return (gr.skip(),) * 6 + ("",)
        result = add_uploads(target, files, progress=progress)
        if result.done:
            gr.Info("Indexed: " + result.done + "".join(f". {n}" for n in result.notes))
        if result.skipped:
            gr.Warning(
                f"{len(result.skipped)} file{'s' if len(result.skipped) != 1 else ''} skipped: "
                + "; ".join(f"{n}: {r}" for n, r in result.skipped)[:300]
            )
        table, dropdown, summary = refresh_docs(None, collection, request)
        # The upload may have created the collection; the "Ask within" choices are the chat's to refresh.
        chat = gr.update(choices=chat_choices(collection, who=who))
        docs = gr.update(choices=collection_choices(collection, who=who))
        return table, dropdown, summary, chat, docs, gr.skip(), result.markdown()

    def remove_doc(source, collection=None, request: gr.Request | None = None):
        if not source:
            gr.Warning("Select a document to remove first.")
            return (gr.skip(),) * 3 + ("",)
        try:
            collection = access(request).write(collection)  # only in the user's own collection
            on(collection).remove(source)
        except USER_ERRORS as e:
            gr.Warning(_user_message(e))
            return (gr.skip(),) * 3 + ("",)
        note = f"Removed {md_escape(Path(source).name)} from the index."
        path = Path(source)
        if inside(path, settings.uploads) and path.is_file():
            path.unlink(missing_ok=True)  # our own copy of an upload: nothing else refers to it
            note += " The uploaded copy was deleted."
        gr.Info(f"Removed {Path(source).name}")
        table, dropdown, summary = refresh_docs(None, collection, request)
        return table, dropdown, summary, note

    def chat_switched(collection, shown, selected=None, request: gr.Request | None = None):
        """The Chat tab's collection changed (``shown``: the Documents tab's). The Documents tab follows
        unless it already shows one of the chosen collections (a combined choice holds both), and the
        "Ask within" choices list the chosen collection's documents. Outputs: table, remove choice,
        summary, the Documents chooser, scope."""
        if collection == shown:
            return (gr.skip(),) * 5
        try:
            who = access(request)
            collection = who.read(combined.check(collection))  # another user's, or a name typed in: refused
        except USER_ERRORS as e:
            gr.Warning(_user_message(e))
            return (gr.skip(),) * 5
        if shown in combined.parts(collection):  # the table already shows a part of it: only the scope moves
            return (gr.skip(),) * 4 + (refresh_scope(selected, collection, request),)
        target = combined.parts(collection)[0]
        table, chosen, summary = refresh_docs(None, target, request)
        follow = gr.update(choices=collection_choices(target, who=who), value=target)
        return table, chosen, summary, follow, refresh_scope(selected, collection, request)

    def docs_switched(collection, chat, selected=None, request: gr.Request | None = None):
        """The Documents tab's collection changed (``chat``: the Chat tab's): the table shows it, and the
        Chat tab follows unless its choice already includes it. Outputs: table, remove choice, summary,
        the Chat chooser, scope."""
        if collection == chat:
            return (gr.skip(),) * 5
        try:
            who = access(request)
            if combined.is_combined(collection):
                raise InputError("the Documents tab shows one collection at a time")
            collection = who.read(combined.check(collection))
        except USER_ERRORS as e:
            gr.Warning(_user_message(e))
            return (gr.skip(),) * 5
        table, chosen, summary = refresh_docs(None, collection, request)
        if chat and collection in combined.parts(chat):  # asking both already: the question side stays
            return table, chosen, summary, gr.skip(), gr.skip()
        follow = gr.update(choices=chat_choices(collection, who=who), value=collection)
        return table, chosen, summary, follow, refresh_scope(selected, collection, request)

    def load_page(request: gr.Request | None = None):
        """The page as this user sees it: their documents, their collections (with accounts: asking
        private and shared together by default), and who is logged in."""
        who = access(request)
        table, chosen, summary = refresh_docs(None, None, request)
        user = getattr(request, "username", None)
        me = gr.update(value=whoami_html(user), visible=bool(user))  # hidden without a login: no empty gap
        names = gr.update(choices=collection_choices(who=who), value=who.default or settings.collection)
        if not who.private:
            return table, chosen, summary, names, names, me
        chat = gr.update(choices=chat_choices(who=who), value=who.together or who.default)
        info = f"Uploads go to your private collection, {who.default}; {settings.collection} is shared (read only)."
        return table, chosen, summary, chat, gr.update(**names, info=info), me

    def pick_row(evt: gr.SelectData):
        row = getattr(evt, "row_value", None)
        return gr.update(value=row[3]) if row and len(row) > 3 else gr.skip()

    def show_guide(source, collection=None, request: gr.Request | None = None):
        """The guide panel for the chosen document: its cached source guide, or "not computed yet"."""
        if not source:
            return GUIDE_HINT
        try:
            return guide_html(source, on(access(request).read(collection)).cached_guide(source))
        except USER_ERRORS as e:
            return f'<div class="panel-title">Guide</div><div class="ev-warn">{esc(_user_message(e))}</div>'
        except Exception:
            log.exception("showing the guide of %r failed", source)
            return '<div class="panel-title">Guide</div><div class="ev-warn">Cannot show this guide.</div>'

    def suggestions(collection=None, shown=None, request: gr.Request | None = None):
        """The suggested-question buttons (row, each button, the list shown): the corpus's questions from
        the guides cached so far; nothing is sent when the list is unchanged (the poll's usual case)."""
        try:
            questions = list(on(access(request).read(collection)).suggested_questions(SUGGESTIONS))[:SUGGESTIONS]
        except USER_ERRORS:
            questions = []  # no index yet, or a collection being created
        except Exception as e:  # an index without guides support: no suggestions, never an error
            log.debug("no suggested questions: %s", e)
            questions = []
        if questions == list(shown or []):
            return (gr.skip(),) * (SUGGESTIONS + 2)
        hidden = [gr.update(visible=False)] * (SUGGESTIONS - len(questions))
        buttons = [gr.update(value=q, visible=True) for q in questions] + hidden
        return (gr.update(visible=bool(questions)), *buttons, questions)

    # ---- API ----------------------------------------------------------------------------
    def ask(
        question: str, docs: list[str] | None = None, collection: str | None = None, request: gr.Request | None = None
    ) -> dict:
        """Answer a question about the indexed documents, with citations.

        ``docs``: files or folders to answer from (default: all documents); ``collection``: which
        collection of documents (default: the app's, the ``collection`` setting). Returns the
        `assistant ask --json` shape: {question, answer, refused, citations
        [{n, source, title, date, start, end, quote, score}], timings, scope, ...}.
        """
        try:
            for event in gate.stream(question, None, docs or None, collection=access(request).read(collection)):
                if event.kind == "answer":
                    return event.data.to_dict()
            raise RuntimeError("the answer stream ended without an answer")
        except USER_ERRORS as e:
            raise gr.Error(_user_message(e), print_exception=False) from None

    def search(
        query: str,
        k: int = 10,
        docs: list[str] | None = None,
        collection: str | None = None,
        request: gr.Request | None = None,
    ) -> list[dict]:
        """The passages retrieval finds for a query (no LLM): chunk text, offsets and scores; ``docs``: within
        those; ``collection``: in that collection (default: the app's)."""
        query = " ".join((query or "").split())
        if not query:
            raise gr.Error("the query is empty", print_exception=False)
        try:
            return [p.to_dict() for p in on(access(request).read(collection)).search(query, int(k), docs=docs or None)]
        except USER_ERRORS as e:
            raise gr.Error(_user_message(e), print_exception=False) from None

    # ---- layout -------------------------------------------------------------------------
    with gr.Blocks(title="Document assistant", analytics_enabled=False) as app:
        session = gr.State(_new_session())
        gr.HTML(
            '<div class="app-name">Ask your documents</div><div class="app-sub">Answers come only from your '
            "documents, with citations you can check. Click a citation to see its source.</div>",
            elem_id="app-title",
            js_on_load=None,
        )
        whoami = gr.HTML("", elem_id="whoami", js_on_load=None, visible=False)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(elem_id="chat-row", equal_height=False):
                    with gr.Column(scale=3, min_width=340, elem_id="chat-col"):
                        chatbot = gr.Chatbot(
                            label="Conversation",
                            elem_id="chatbot",
                            height="min(62vh, 560px)",
                            latex_delimiters=[],
                            buttons=["copy"],  # one per message; JS makes it copy the text as shown
                            feedback_options=["Like", "Dislike"],  # thumbs up/down -> vote()
                            placeholder=_placeholder(assistant),
                        )
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(
                                show_label=False,
                                placeholder="Ask a question…",
                                scale=5,
                                min_width=160,
                                elem_id="question",
                                lines=1,
                                max_lines=4,
                                autofocus=True,
                            )
                            ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask-btn")
                        with gr.Row(visible=False, elem_id="suggestions") as suggest_row:
                            chips = [
                                gr.Button(
                                    "",
                                    size="sm",
                                    variant="secondary",
                                    visible=False,
                                    min_width=0,
                                    elem_id=f"suggestion-{i}",
                                    elem_classes=["suggestion"],
                                )
                                for i in range(SUGGESTIONS)
                            ]
                        suggested = gr.State([])  # the questions the buttons show now
                        with gr.Row(equal_height=True, elem_id="chat-actions"):
                            new_btn = gr.Button("New chat", size="sm", variant="secondary", elem_id="new-chat")
                            stop_btn = gr.Button("Stop", size="sm", variant="stop", visible=False, elem_id="stop-btn")
                            export_btn = gr.DownloadButton(
                                "Export (Markdown)",
                                value=None,
                                size="sm",
                                variant="secondary",
                                interactive=False,
                                elem_id="export-btn",
                            )
                        with gr.Row(visible=False, equal_height=True, elem_id="comment-row") as comment_row:
                            comment = gr.Textbox(
                                show_label=False,
                                placeholder="What was wrong or missing?",
                                scale=5,
                                min_width=160,
                                max_lines=4,
                                elem_id="comment",
                            )
                            comment_btn = gr.Button(
                                "Send comment", size="sm", scale=1, min_width=90, elem_id="comment-btn"
                            )
                        feedback_note = gr.Markdown(elem_id="feedback-note")
                        chat_collection = gr.Dropdown(
                            label="Collection",
                            info="The set of documents to ask.",
                            choices=[settings.collection],
                            value=settings.collection,
                            elem_id="collection",
                        )
                        scope = gr.Dropdown(
                            label="Ask within",
                            info="Empty: all documents. Type to search.",
                            choices=[],
                            value=[],
                            multiselect=True,
                            filterable=True,
                            elem_id="scope",
                        )
                    with gr.Column(scale=2, min_width=300, elem_id="side-col"):
                        evidence = gr.HTML(EVIDENCE_HINT, elem_id="evidence", js_on_load=None)
                        passages = gr.HTML(PASSAGES_HINT, elem_id="passages", js_on_load=None)
                cite_key = gr.Textbox(visible="hidden", elem_id="cite-key")
                cite_go = gr.Button("show citation", visible="hidden", elem_id="cite-go")
            with gr.Tab("Documents", id="documents") as docs_tab:
                doc_collection = gr.Dropdown(
                    label="Collection",
                    info="Uploads go here. Type a new name to start a collection.",
                    choices=[settings.collection],
                    value=settings.collection,
                    allow_custom_value=True,
                    elem_id="doc-collection",
                )
                doc_summary = gr.Markdown(elem_id="doc-summary")
                table = gr.Dataframe(
                    headers=["Title", "Date", "Chunks", "Source"],
                    datatype=["str", "str", "number", "str"],
                    interactive=False,
                    wrap=True,
                    elem_id="doc-table",
                    # Date and Chunks in pixels: never narrower than "2026-12-01" (kept on one line by CSS), so
                    # at 390 px the table scrolls sideways inside its box instead of wrapping dates as "202 6-".
                    column_widths=["30%", "96px", "72px", "44%"],
                )
                doc_guide = gr.HTML(GUIDE_HINT, elem_id="doc-guide", js_on_load=None)
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        upload = gr.File(
                            label="Add documents (.txt .md .html .pdf .docx)",
                            file_count="multiple",
                            type="filepath",
                            elem_id="upload",
                        )
                        upload_status = gr.Markdown(elem_id="upload-status")
                    with gr.Column(min_width=300):
                        chosen = gr.Dropdown(
                            label="Selected document (click its row above)",
                            choices=[],
                            value=None,
                            elem_id="remove-choice",
                        )
                        remove_btn = gr.Button("Remove from index", variant="stop", elem_id="remove-btn")
                        remove_status = gr.Markdown()

        answer_limits = dict(concurrency_limit=gradio_slots(gate), concurrency_id="answer")
        chat_io = dict(
            fn=respond,
            inputs=[question, scope, chat_collection, session],
            outputs=[question, chatbot, passages, session, stop_btn, export_btn],
            api_visibility="private",
            **answer_limits,
        )
        # One listener for both triggers: trigger_mode="once" then ignores a second question while
        # this browser's answer is still being written (it would interleave with the first).
        answering = gr.on(triggers=[question.submit, ask_btn.click], trigger_mode="once", **chat_io)
        stop_btn.click(
            stop_answer,
            inputs=[session, chat_collection],
            outputs=[chatbot, session, stop_btn, export_btn],
            cancels=[answering],
            api_visibility="private",
            concurrency_limit=None,
        )
        chatbot.clear(
            new_chat,
            outputs=[question, chatbot, evidence, passages, session, export_btn, comment_row, feedback_note],
            api_visibility="private",
            concurrency_limit=None,
        )
        new_btn.click(
            new_chat,
            outputs=[question, chatbot, evidence, passages, session, export_btn, comment_row, feedback_note],
            api_visibility="private",
            concurrency_limit=None,
        )
        chatbot.like(
            vote,
            inputs=[session, chat_collection],
            outputs=[comment_row, comment, feedback_note, session],
            api_visibility="private",
            concurrency_limit=None,
        )
        gr.on(
            triggers=[comment.submit, comment_btn.click],
            fn=send_comment,
            inputs=[comment, session, chat_collection],
            outputs=[comment_row, comment, feedback_note],
            api_visibility="private",
            concurrency_limit=None,
        )
        cite_go.click(
            show_evidence,
            inputs=[cite_key, session],
            outputs=[evidence],
            api_visibility="private",
            js="(key, s) => [window.__assistantKey || key, s]",
            concurrency_limit=None,
            queue=False,
        ).then(None, js=SCROLL_TO_EVIDENCE, api_visibility="private")

        upload.upload(
            add_files,
            inputs=[upload, doc_collection],
            outputs=[table, chosen, doc_summary, chat_collection, doc_collection, scope, upload_status],
            api_visibility="private",
            concurrency_limit=1,
            concurrency_id="ingest",
            show_progress_on=[table],
        ).then(lambda: None, outputs=[upload], api_visibility="private", concurrency_limit=None)
        remove_btn.click(
            remove_doc,
            inputs=[chosen, doc_collection],
            outputs=[table, chosen, doc_summary, remove_status],
            api_visibility="private",
            concurrency_limit=1,
            concurrency_id="ingest",
        )
        table.select(pick_row, outputs=[chosen], api_visibility="private", concurrency_limit=None)
        chosen.change(
            show_guide,
            inputs=[chosen, doc_collection],
            outputs=[doc_guide],
            api_visibility="private",
            concurrency_limit=None,
        )
        poll = gr.Timer(SUGGESTIONS_POLL_S)
        gr.on(
            triggers=[app.load, table.change, chat_collection.change, poll.tick],
            fn=suggestions,
            inputs=[chat_collection, suggested],
            outputs=[suggest_row, *chips, suggested],
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",
        )
        for chip in chips:  # the question in the box, then Ask: the ordinary question event
            chip.click(
                None, inputs=[chip], outputs=[question], js="(q) => q", api_visibility="private", queue=False
            ).then(None, js=PRESS_ASK, api_visibility="private")
        docs_tab.select(
            refresh_docs,
            inputs=[chosen, doc_collection],
            outputs=[table, chosen, doc_summary],
            api_visibility="private",
            concurrency_limit=None,
        )
        app.load(
            load_page,
            outputs=[table, chosen, doc_summary, chat_collection, doc_collection, whoami],
            api_visibility="private",
            concurrency_limit=None,
        )
        table.change(
            refresh_scope,
            inputs=[scope, chat_collection],
            outputs=[scope],
            api_visibility="private",
            concurrency_limit=None,
        )
        chat_collection.change(
            chat_switched,
            inputs=[chat_collection, doc_collection, scope],
            outputs=[table, chosen, doc_summary, doc_collection, scope],
            api_visibility="private",
            concurrency_limit=None,
        )
        doc_collection.change(
            docs_switched,
            inputs=[doc_collection, chat_collection, scope],
            outputs=[table, chosen, doc_summary, chat_collection, scope],
            api_visibility="private",
            concurrency_limit=None,
        )

        gr.api(ask, api_name="ask", **answer_limits)
        gr.api(search, api_name="search", concurrency_limit=None)

    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=ANSWER_CONCURRENCY)
    app.policy = policy  # type: ignore[attr-defined]  # launch() asks for a login when it has users
    # launch() puts this in front of the login form: failed logins per name and address (assistant/logins.py)
    app.login_limiter = logins.LoginLimiter(settings.login_attempts, settings.login_lockout_s)  # type: ignore[attr-defined]
    app.max_sessions = settings.max_sessions  # type: ignore[attr-defined]  # conversations kept in memory
    TEXTS.max_bytes = int(settings.text_cache_mb * 1024 * 1024)
    app.answer_slots = gradio_slots(gate)  # type: ignore[attr-defined]  # launch() sizes the thread pool by it
    return app


# --------------------------------------------------------------------------- launching


def theme() -> gr.themes.Base:
    # Gradio's bundled Source Sans Pro SemiBold (600) is a 5 KB subset: most letters fell back to another
    # font. Declaring 400 and 700 (complete files) makes every bold text use the real Bold face.
    # Gradio serves these files itself: nothing is fetched from the internet.
    font: list[gr.themes.Font | str] = [
        gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
        "ui-sans-serif",
        "system-ui",
        "sans-serif",
    ]
    return gr.themes.Default(primary_hue="indigo", secondary_hue="amber", neutral_hue="slate", font=font)


def parse_auth(auth: str) -> tuple[str, str] | None:
    """``"user:password"`` -> ("user", "password"); empty -> None (no login)."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise SettingsError("ASSISTANT_AUTH must look like user:password")
    return user, password


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    auth: Any = None,  # "user:password", (user, password), or a callable (accounts.Policy.login)
    prevent_thread_lock: bool = False,
    quiet: bool = True,
    openai_api=None,
):
    """Start the server with the app's CSS/JS/theme (Gradio 6 takes them at launch, not in Blocks).

    ``openai_api``: an Assistant whose OpenAI-compatible ``/v1`` routes (``assistant.openai_api``)
    are served on the same port. They go in through ``app_kwargs`` (FastAPI's ``routes``), so they
    exist before the server starts, whether or not ``launch`` then blocks.
    """
    if isinstance(auth, str):
        auth = parse_auth(auth)
    policy = getattr(app, "policy", None)
    if policy is not None and policy.private:  # accounts: their logins, never an open page
        auth = policy.login
    app_kwargs: dict[str, Any] = {}
    if openai_api is not None:
        from .openai_api import routes

        app_kwargs["routes"] = routes(openai_api)
    limiter = getattr(app, "login_limiter", None)
    message = "Log in to the document assistant."
    if auth is not None and limiter is not None:  # every login form goes through the failed-login limit
        from starlette.middleware import Middleware

        app_kwargs["middleware"] = [Middleware(logins.LoginGuard, limiter=limiter)]
        message += f" After {limiter.attempts} failed logins, a name waits {logins.wait_text(limiter.window_s)} before it can try again."
    return app.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=False,
        inbrowser=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        max_file_size=MAX_BYTES,
        footer_links=["api", "settings"],
        theme=theme(),
        css=CSS,
        js=JS,
        auth_message=message,
        enable_monitoring=False,
        app_kwargs=app_kwargs or None,
        state_session_capacity=getattr(app, "max_sessions", 10_000),
        # Each waiting answer holds a worker thread while it polls its place in line (assistant/queueing.py).
        max_threads=max(40, getattr(app, "answer_slots", 0) + 24),
    )


def _placeholder(assistant) -> str:
    """The empty chat's hint: questions this corpus answers (from the source guides), not a fixed one."""
    try:
        questions = assistant.suggested_questions(2)
    except Exception:  # no index yet, or unreadable guides: the generic hint
        questions = []
    if not questions:
        return "Ask a question about your documents."
    return "Ask a question about your documents, for example:\n\n" + "\n".join(f"- *{md_escape(q)}*" for q in questions)


GUIDES_AT_START = 5  # documents whose source guide serve computes in the background (LLM time)


def _warm_up(assistant) -> None:
    """Load the embedding model, lexical index and LLM in the background: the first answer is faster.

    Then compute the source guides still missing (a few seconds of LLM time each), so that the
    Documents tab and the chat's suggested questions have them; a user's question waits at most
    for the guide being computed, because guides hold the LLM one at a time.
    """
    try:
        if assistant.store.count():
            assistant.search("warm up", 1)
        load = getattr(assistant.llm, "load", None)
        if load:
            load()
        for doc in assistant.documents()[:GUIDES_AT_START]:
            assistant.guide(doc["source"])
    except Exception as e:  # the first real request will report it properly
        log.info("warm-up failed: %s", e)


def serve(host: str | None = None, port: int | None = None, watch: list[str] | None = None) -> None:
    """``assistant serve``: run the web app until interrupted (127.0.0.1:7860 by default).

    ``watch``: files and folders kept in sync while they change (``assistant/watch.py``).
    """
    from .core import Assistant
    from .settings import Settings

    settings = Settings.load()
    host = host or settings.host
    port = port or settings.port
    auth: Any = parse_auth(settings.auth)
    assistant = Assistant(settings)
    app = build_app(assistant)
    if app.policy.private:  # type: ignore[attr-defined]
        if auth:
            print("warning: ASSISTANT_AUTH is ignored: the users of `assistant users` log in", file=sys.stderr)
        auth = app.policy.login  # type: ignore[attr-defined]
    threading.Thread(target=_warm_up, args=(assistant,), name="warm-up", daemon=True).start()
    if watch:  # a thread on this same Assistant: each sync stamps a new store version, which the next search sees
        from .watch import Watcher

        Watcher(assistant, watch).start()
    try:
        launch(app, host, port, auth, prevent_thread_lock=True, openai_api=assistant)
    except OSError as e:
        raise SettingsError(f"cannot serve on {host}:{port}: {e}") from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"Document assistant running at http://{shown}:{port}/" + (" (login required)" if auth else ""), flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {host}: other machines can reach it"
            + ("" if auth else "; set ASSISTANT_AUTH=user:password to require a login"),
            file=sys.stderr,
            flush=True,
        )
    print("Press Ctrl-C to stop.", flush=True)
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
