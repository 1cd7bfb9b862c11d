"""Conversation export (Markdown) and the local store of thumbs up/down feedback (JSONL).

The web app and ``assistant feedback`` only call this module; nothing here knows Gradio.

Design and trade-offs:

* **Export = one browser's own conversation.** ``conversation_markdown`` formats the turns it is
  given, and the web app gives it the turns of that browser session's ``gr.State`` only; it never
  reads the feedback file or any other session, so an export cannot carry another user's
  questions. Each turn: the question, the answer text, then its numbered citations (title, date,
  page and section where present, file and character offsets) and the exact quote, which is
  ``text_of(source)[start:end]`` as in every other front end.
* **Document text is untrusted in the export too.** Questions, answers, titles, sections and
  quotes are escaped for Markdown (``md_text``): Markdown punctuation gets a backslash (CommonMark
  allows one before any ASCII punctuation), so no document can add a link, an image, raw HTML, a
  heading or math; ``http:``/``www.``/``@`` are broken up so that viewers that auto-link bare URLs
  (GitHub) do not; file paths are code spans (literal by definition). The price is backslashes in
  the raw file (``\\[1\\]``); rendered, it reads as written. Whitespace in quotes is collapsed to
  single spaces so a quote stays inside its ``>``.
* **Append-only JSONL, one line per vote.** A vote (and a later comment, or a changed or withdrawn
  vote) is a new line ``{"id", "time", "vote", "question", "answer", "citations", "comment", ...}``;
  nothing is ever rewritten, so a crash can lose at most the line being written, and the file can be
  read, grepped or shipped while the app runs. The report keeps the *last* line of each answer
  ``id`` (file order is time order), so re-voting does not count twice. A file that grows without
  bound is the cost; it is small (one line per click) and can be rotated by moving it away.
* **Concurrent browser sessions.** Each line is written with a single ``os.write`` on a file opened
  ``O_APPEND`` while holding an exclusive ``flock`` (other processes: two ``serve`` on one index)
  and a per-file thread lock (Gradio's worker threads), so lines never interleave. Before writing,
  a last line left without its newline by a crash is terminated, so one torn line never swallows
  the next; the reader skips lines that are not JSON objects and says how many.
* **Local and private.** The file lives under the index folder by default (``feedback_file``
  setting; ``<index_dir>/feedback.jsonl``), is created with mode 0600, and holds only what the
  voter saw: that one question, its answer and citations, not the rest of the conversation. With
  accounts each line names its voter (``user``), so the owner can tell whose rating it is; users
  have no way to read the file (no endpoint serves it, and the per-answer lines hold their own
  question only). It is the owner's, like the index: ``assistant feedback`` on the command line.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere the thread lock and O_APPEND remain
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

VOTES = ("up", "down", "none")  # "none": a vote taken back
MAX_COMMENT_CHARS = 2000
CITATION_FIELDS = ("n", "source", "title", "date", "page", "section", "start", "end", "quote")

# --------------------------------------------------------------------------- Markdown export

_MD_PUNCT = re.compile(r"([\\`*_\[\]{}()<>#+!|~$&@^])")
_SCHEME = re.compile(r"(?i)\b(https?|ftp|file|mailto|javascript|data|vbscript)\\?:")
_WWW = re.compile(r"(?i)\bwww\.")
_LINE_START = re.compile(r"^(\s*)([-=>]|\d+(?=[.)]))")


def md_text(text: Any) -> str:
    """``text`` as literal Markdown: no links, images, HTML, headings, lists, emphasis or math."""
    s = _MD_PUNCT.sub(r"\\\1", str(text or ""))
    s = _SCHEME.sub(lambda m: m.group(1) + "\\:", s)
    s = _WWW.sub(lambda m: m.group(0)[:3] + "\\.", s)
    lines = []
    for line in s.split("\n"):
        m = _LINE_START.match(line)
        if m and m.group(2)[0].isdigit():  # "1." / "2)" would start an ordered list
            line = line[: m.end()] + "\\" + line[m.end() :]
        elif m:  # "-" list or rule, "=" setext heading, ">" quote
            line = m.group(1) + "\\" + line[m.start(2) :]
        lines.append(line)
    return "\n".join(lines)


def code_span(text: str) -> str:
    """``text`` as a Markdown code span (literal, no escapes), fenced by more backticks than it holds."""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def answer_markdown(answer: str) -> str:
    """An answer's text, escaped; its own "- " bullet lines (summaries) stay a list."""
    lines = []
    for line in answer.split("\n"):
        if line.startswith("- "):
            lines.append("- " + md_text(line[2:]))
        elif line.strip():
            lines.append(md_text(line.strip()))
    return "\n".join(lines)


def citation_meta(c: dict) -> str:
    """'Title · 2026-01-02 · p. 12 · § Section' (escaped), the parts that are present."""
    parts = [f"**{md_text(one_line(c.get('title')) or os.path.basename(str(c.get('source', ''))))}**"]
    if c.get("date"):
        parts.append(md_text(one_line(c["date"])))
    if c.get("page"):
        parts.append(f"p. {int(c['page'])}")
    if c.get("section"):
        parts.append("§ " + md_text(one_line(c["section"])))
    return " · ".join(parts)


def conversation_markdown(turns: Iterable[dict], *, collection: str | None = None, now: datetime | None = None) -> str:
    """A conversation as Markdown. ``turns``: dicts with ``question``, ``answer``, ``refused`` and
    ``citations`` (``Citation.to_dict()`` shape); ``stopped`` marks an answer cut short."""
    turns = list(turns)
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    head = f"Exported {when}"
    if collection:
        head += f" · collection {md_text(collection)}"
    head += f" · {len(turns)} question{'s' if len(turns) != 1 else ''}"
    out = ["# Conversation with your documents", "", head, ""]
    for i, t in enumerate(turns, 1):
        out += [f"## {i}. {md_text(one_line(t.get('question')))}", ""]
        answer = str(t.get("answer") or "").strip()
        out += [answer_markdown(answer) if answer else "_(no answer)_", ""]
        if t.get("stopped"):
            out += ["_(stopped before the answer was complete)_", ""]
        citations = t.get("citations") or []
        if citations and not t.get("refused"):
            out += ["Sources:", ""]
            for c in citations:
                where = code_span(one_line(c.get("source")))
                if c.get("start") is not None and c.get("end") is not None:
                    where += f", characters {int(c['start'])}–{int(c['end'])}"
                out += [
                    f"{int(c.get('n', 0))}\\. {citation_meta(c)}  ",
                    f"   {where}",
                    "",
                    f"   > {md_text(one_line(c.get('quote')))}",
                    "",
                ]
    return "\n".join(out).rstrip() + "\n"


def write_export(turns: Iterable[dict], folder: str | os.PathLike, *, collection: str | None = None) -> Path:
    """Write ``conversation_markdown`` to ``folder/conversation-YYYYMMDD-HHMMSS.md`` (the folder's
    earlier exports are deleted: it holds one conversation's latest export) and return the path."""
    now = datetime.now(UTC)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("conversation-*.md"):
        old.unlink(missing_ok=True)
    path = folder / now.strftime("conversation-%Y%m%d-%H%M%S.md")
    path.write_text(conversation_markdown(turns, collection=collection, now=now), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- feedback store


def new_id() -> str:
    """An answer's feedback id: random, so ids from different sessions and processes never collide."""
    return uuid.uuid4().hex[:16]


def _citation(c: dict) -> dict:
    return {k: c.get(k) for k in CITATION_FIELDS if k in c}


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@dataclass
class Feedback:
    """What ``FeedbackStore.read`` found: the lines in file order and how many could not be read."""

    records: list[dict]
    unreadable: int = 0


class FeedbackStore:
    """An append-only JSONL file of votes (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def of(cls, settings) -> FeedbackStore:
        """The store of these settings: ``feedback_file``, else ``<index_dir>/feedback.jsonl``."""
        return cls(settings.feedback)

    def add(
        self,
        *,
        answer_id: str,
        question: str,
        answer: str,
        vote: str,
        citations: Iterable[dict] = (),
        comment: str = "",
        refused: bool = False,
        collection: str | None = None,
        user: str | None = None,
        when: float | None = None,
    ) -> dict:
        """Append one vote line and return it. ``vote``: "up", "down" or "none" (taken back); ``user``:
        the logged-in voter (accounts), None without accounts."""
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}, not {vote!r}")
        record = {
            "id": str(answer_id),
            "time": datetime.fromtimestamp(time.time() if when is None else when, UTC).isoformat(timespec="seconds"),
            "vote": vote,
            "question": str(question),
            "answer": str(answer),
            "refused": bool(refused),
            "citations": [_citation(c) for c in citations],
            "comment": str(comment or "").strip()[:MAX_COMMENT_CHARS],
            "collection": collection,
            "user": user,
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _lock_for(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: end it first
                    line = b"\n" + line
                view = memoryview(line)
                while view:  # one write in practice; a short write continues under the same lock
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)  # releases the flock
        return record

    def read(self) -> Feedback:
        """Every readable line in file order (oldest first); a missing file is no feedback."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Feedback([])
        records, bad = [], 0
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if isinstance(rec, dict) and rec.get("vote") in VOTES and rec.get("id"):
                records.append(rec)
            else:
                bad += 1
        return Feedback(records, bad)

    def report(self) -> dict:
        return report(self.read(), self.path)


def report(feedback: Feedback, path: str | os.PathLike | None = None) -> dict:
    """Counts of the answers' current votes and the down-voted ones, most recent first.

    An answer voted several times (or commented after its vote) counts once, with its last line.
    """
    latest: dict[str, dict] = {}
    for rec in feedback.records:
        latest.pop(rec["id"], None)  # re-insert: dict order becomes the order of each id's last line
        latest[rec["id"]] = rec
    current = list(latest.values())
    down = [r for r in reversed(current) if r["vote"] == "down"]
    return {
        "file": str(path) if path is not None else None,
        "lines": len(feedback.records),
        "unreadable_lines": feedback.unreadable,
        "answers": sum(1 for r in current if r["vote"] != "none"),
        "up": sum(1 for r in current if r["vote"] == "up"),
        "down": len(down),
        "down_voted": [
            {k: r.get(k) for k in ("time", "question", "answer", "comment", "citations", "collection", "user", "id")}
            for r in down
        ],
    }


def report_text(rep: dict) -> str:
    """The report as ``assistant feedback`` prints it."""
    if not rep["lines"]:
        where = f" ({rep['file']})" if rep.get("file") else ""
        return f"No feedback yet{where}." + (
            f" {rep['unreadable_lines']} unreadable lines." if rep["unreadable_lines"] else ""
        )
    lines = [
        f"{rep['answers']} answer{'s' if rep['answers'] != 1 else ''} rated: "
        f"{rep['up']} up, {rep['down']} down ({rep['lines']} votes in {rep['file']})"
    ]
    if rep["unreadable_lines"]:
        lines.append(f"({rep['unreadable_lines']} unreadable lines skipped)")
    if rep["down_voted"]:
        lines.append("")
        lines.append("Down-voted, most recent first:")
        for r in rep["down_voted"]:
            when = str(r.get("time") or "")[:16].replace("T", " ")
            by = f"  ({one_line(r['user'])})" if r.get("user") else ""
            lines.append(f"  {when}  {one_line(r.get('question'))}{by}")
            answer = one_line(r.get("answer"))
            lines.append(f"      answer: {answer[:200]}{'…' if len(answer) > 200 else ''}")
            if r.get("comment"):
                lines.append(f"      comment: {one_line(r['comment'])}")
    return "\n".join(lines)
