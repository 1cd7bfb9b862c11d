"""Files -> ``Document``: one small reader per format, and a safe walk over folders.

Design and trade-offs:

* **Offsets are sacred.** Citations are ``Document.text[start:end]``. For ``.txt``/``.md``
  the text is the *whole* file decoded exactly like ``open(path, encoding="utf-8").read()``
  (universal newlines: ``\\r\\n`` and ``\\r`` become ``\\n``; a BOM stays as ``\\ufeff``; the
  ``Title:``/``Date:`` header stays in). Nothing is stripped, so anyone can re-open the
  file and check a quote. Non-UTF-8 text falls back to UTF-16 (with BOM), cp1252, then
  latin-1, after a cheap binary sniff (NUL bytes or many control bytes -> "binary file").
* **Extracted formats** (HTML, PDF, DOCX) have no stable character space of their own, so
  their text is *our* extraction (paragraphs separated by blank lines, PDF pages by
  ``"\\n\\n"``); ``text_of(source)`` re-runs the same deterministic extraction, which is
  what ``assistant show`` and citation checks slice. The cost: a library upgrade that
  changes extraction invalidates offsets for those formats; bumping
  ``identity.CHUNKER_VERSION`` makes the next ingest re-extract every file.
* **Structure rides beside the text, as offsets.** A reader returns an ``Extraction``: the
  text plus the offset where each PDF page starts and the (offset, text) of each heading
  (Markdown ``#`` lines, HTML h1-h6, .docx "Heading N" styles). Chunks and citations look
  their page and section up there (``Document.page_at``/``section_at``), so nothing is ever
  parsed back out of a header string, and a quote's page is the page of its own first
  character. PDF headings are not detected (that needs font sizes; pages are what a PDF
  reader cites).
* **PDF lines are re-flowed.** pypdf breaks its text at every visual line, and sentences
  split at line breaks, so a wrapped sentence would be quoted as fragments. ``_reflow``
  joins wrapped lines with a space (a line-end hyphen is dropped unless the document spells
  the word with one elsewhere or the next line starts with a capital or digit), keeps
  deliberate breaks (the next word would have fitted) as paragraph breaks after a sentence
  end or before a heading-like line, and drops a lone page number at a page's top or foot.
  pypdf stays the extractor rather than PyMuPDF: PyMuPDF is AGPL (this project is Apache-2.0)
  and a large native wheel, and with re-flowing pypdf's plain mode reads single-column prose
  well; its layout mode pads with spaces and keeps columns side by side, which is worse.
* **One exception type.** Every reason a file cannot be used (missing, too large, empty,
  binary, encrypted, corrupt, no text, unsupported type) is an ``UnreadableFile`` with a
  one-line human reason, so ingest can report and skip instead of crashing.
* **Metadata** comes from a small ``Key: value`` header at the very start of the text (or
  YAML-style front matter between ``---`` lines; ``frontmatter.parse``, any keys, kept whole in
  ``Document.front_matter``, with the outlet as ``Document.outlet``); otherwise the first ``# heading``
  (.md), ``<title>`` (.html), PDF/DOCX metadata title (a PDF's only when it is a real title,
  not "Microsoft Word - x.doc", a file name or "untitled"; a .docx's "Title"-styled paragraph
  next), the first paragraph of a PDF's first page, else the file-name stem. Dates come from
  the header, HTML ``<meta>``, PDF CreationDate (then ModDate) or .docx created (then
  modified): when the document was written, not when it was extracted. The date
  is normalised to ``YYYY-MM-DD`` when it carries a year; unparseable dates are kept raw;
  placeholders such as ``unknown`` and missing dates fall back to the file's modification
  date (UTC), and ``Document.dated`` says which it is.
* **Walking** is iterative (explicit stack over ``os.scandir``), so deep trees never hit
  the recursion limit (``os.walk`` is recursive before Python 3.12); symlinked folders are
  never followed (no loops), hidden names (leading ``.``) are skipped, output is sorted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import frontmatter
from .errors import UnreadableFile
from .schema import Document

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
MAX_BYTES = 50 * 1024 * 1024  # larger files are refused: they are almost never prose

__all__ = [
    "SUPPORTED",
    "MAX_BYTES",
    "UnreadableFile",
    "read_document",
    "iter_files",
    "text_of",
]


# --------------------------------------------------------------------------- public API


def read_document(path: str | os.PathLike) -> Document:
    """Read one file into a Document, or raise ``UnreadableFile`` with the reason."""
    p = Path(path)
    source = os.path.abspath(p)
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableFile(f"unsupported file type {suffix or '(no extension)'}", source)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise UnreadableFile("no such file", source) from None
    except OSError as e:
        raise UnreadableFile(f"cannot read file: {e.strerror or e}", source) from None
    if os.path.isdir(p):
        raise UnreadableFile("is a folder, not a file", source)
    if st.st_size > MAX_BYTES:
        raise UnreadableFile(
            f"file too large ({math.ceil(st.st_size / 2**20)} MB > {MAX_BYTES // 2**20} MB limit)",
            source,
        )
    if st.st_size == 0:
        raise UnreadableFile("empty file", source)
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise UnreadableFile(f"cannot read file: {e.strerror or e}", source) from None
    if not raw:
        raise UnreadableFile("empty file", source)
    if len(raw) > MAX_BYTES:  # grew between stat and read
        raise UnreadableFile(f"file too large (> {MAX_BYTES // 2**20} MB limit)", source)

    try:
        if suffix in TEXT_SUFFIXES:
            text = _decode_text(raw)
            ex = Extraction(text, headings=_md_headings(text) if suffix in (".md", ".markdown") else [])
        elif suffix in (".html", ".htm"):
            if b"\x00" in raw and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # NULs: not HTML text
                raise UnreadableFile("binary file")
            ex = _read_html(raw)
        elif suffix == ".pdf":
            ex = _read_pdf(raw)
        else:  # .docx
            ex = _read_docx(raw)
    except UnreadableFile as e:
        e.path = source
        raise
    text, meta_title, meta_date = ex.text, ex.title, ex.date
    if not text.strip():
        hint = " (the PDF may be scanned images)" if suffix == ".pdf" else ""
        raise UnreadableFile("no text could be extracted" + hint, source)

    header = frontmatter.parse(text)
    title = header.title.strip()
    if not title and suffix in (".md", ".markdown"):
        title = _first_md_heading(text)
    if not title:
        title = meta_title.strip()
    if not title and suffix in TEXT_SUFFIXES:
        title = _first_line_title(text[header.end :])
    if not title and suffix == ".pdf":
        title = _first_line_title(text.split("\n\n", 1)[0])  # the first page's first paragraph: a heading, mostly
    titled = bool(title)
    if not title:
        title = p.stem
    raw_date = header.date.strip() or meta_date.strip()
    doc_date = frontmatter.normalize_date(raw_date) if raw_date else ""
    dated = bool(doc_date)
    if not doc_date:
        doc_date = datetime.fromtimestamp(st.st_mtime, tz=UTC).date().isoformat()
    return Document(
        source=source,
        text=text,
        title=" ".join(title.split()),
        date=doc_date,
        hash=hashlib.sha256(raw).hexdigest(),
        pages=ex.pages,
        headings=ex.headings,
        outlet=header.outlet,
        titled=titled,
        dated=dated,
        front_matter=header.fields,
        body_start=header.end,
    )


def text_of(source: str | os.PathLike) -> str:
    """The text that citation offsets index into (what ``assistant show SOURCE`` prints)."""
    return read_document(source).text


def iter_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Yield the files to ingest from files and/or folders.

    Folders are walked recursively (iteratively: any depth is fine), yielding supported,
    non-hidden files in sorted order; hidden files/folders and symlinked folders are
    skipped. Paths given explicitly are yielded as they are, even with an unsupported
    suffix or when missing, so ``read_document`` can report why they cannot be read.
    Each file is yielded once.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen: set[str] = set()
    for given in paths:
        root = Path(given)
        if not root.is_dir():
            key = os.path.abspath(root)
            if key not in seen:
                seen.add(key)
                yield root
            continue
        for f in sorted(_walk(root), key=lambda q: q.parts):
            key = os.path.abspath(f)
            if key not in seen:
                seen.add(key)
                yield f


# --------------------------------------------------------------------------- extraction


@dataclass
class Extraction:
    """What a reader found: the text plus its structure as offsets into that text."""

    text: str
    title: str = ""  # from the format's own metadata
    date: str = ""  # from the format's own metadata (raw; normalised by read_document)
    pages: list[int] = field(default_factory=list)  # PDF: where page i+1 starts in text
    headings: list[tuple[int, str]] = field(default_factory=list)  # (offset in text, heading text)


def _joined(paragraphs: list[tuple[str, bool]]) -> tuple[str, list[tuple[int, str]]]:
    """Paragraphs joined by blank lines; the offsets of those flagged as headings."""
    out: list[str] = []
    headings: list[tuple[int, str]] = []
    pos = 0
    for text, is_heading in paragraphs:
        if out:
            pos += 2
        if is_heading:
            headings.append((pos, " ".join(text.split())))
        out.append(text)
        pos += len(text)
    return "\n\n".join(out), headings


# --------------------------------------------------------------------------- walking


def _walk(root: Path) -> Iterator[Path]:
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:  # permission denied, name too long, vanished: skip the folder
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in SUPPORTED:
                    yield Path(entry.path)  # symlinked *files* are fine; symlinked dirs never
            except OSError:
                continue


# --------------------------------------------------------------------------- plain text

# Control bytes that do not occur in text (keeps \t \n \v \f \r and ESC).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"


def _decode_text(raw: bytes) -> str:
    """Decode like ``open(path, encoding=...).read()`` in text mode (universal newlines)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _universal(raw, "utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        raise UnreadableFile("binary file")
    controls = len(raw) - len(raw.translate(None, _CONTROL))
    if controls > 0.05 * len(raw):
        raise UnreadableFile("binary file")
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return _universal(raw, encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("not valid UTF-8 text and not a known encoding")  # pragma: no cover


def _universal(raw: bytes, encoding: str) -> str:
    # Same machinery as open(..., encoding=encoding): TextIOWrapper with newline=None.
    return io.TextIOWrapper(io.BytesIO(raw), encoding=encoding, errors="strict", newline=None).read()


# --------------------------------------------------------------------------- HTML

_DROP_TAGS = ["script", "style", "nav", "head", "noscript", "template", "svg", "iframe", "form"]
_BLOCK_TAGS = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "caption",
    "body",
    "html",
]
_PARA = "\x1e"  # paragraph marker inserted around block elements
_HEAD = "\ue000"  # marks a paragraph that is an h1-h6 heading (private use, and not whitespace: str.strip keeps it)
_HEADING_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_DATE_META = ("article:published_time", "date", "dc.date", "dcterms.date", "pubdate", "publish-date", "datepublished")


_HIDDEN_STYLE = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
    r"|font-size\s*:\s*0(?:\.0+)?(?:px|pt|em|rem|%)?\s*(?:!important\s*)?(?:;|$)"
    r"|opacity\s*:\s*0(?:\.0+)?\s*(?:!important\s*)?(?:;|$)"
    r"|(?:left|top|text-indent|margin-left)\s*:\s*-\d{3,}(?:\.\d+)?(?:px|em|rem|pt)"
    r"|clip\s*:\s*rect\(\s*0[^)]*\)|clip-path\s*:\s*inset\(\s*(?:50|100)%|transform\s*:\s*scale\(\s*0\s*\)"
    r"|color\s*:\s*transparent)",
    re.IGNORECASE,
)
_ZERO_BOX = re.compile(r"(?:^|;)\s*(?:max-)?(?:height|width)\s*:\s*0(?:px)?\s*(?:;|$)", re.IGNORECASE)
_OVERFLOW_HIDDEN = re.compile(r"overflow\s*:\s*hidden", re.IGNORECASE)
# Class names that the common CSS frameworks (Bootstrap, Tailwind, WordPress, Drupal ...) use to hide
# an element from sight (some keep it for screen readers: boilerplate such as "opens in a new tab").
_HIDING_CLASSES = {
    "hidden",
    "d-none",
    "hide",
    "invisible",
    "sr-only",
    "visually-hidden",
    "visuallyhidden",
    "screen-reader-text",
    "screen-reader-only",
    "element-invisible",
    "is-hidden",
    "u-hidden",
    "offscreen",
    "a11y-hidden",
    "display-none",
}
# "hidden md:block" (Tailwind) or "d-none d-lg-block" (Bootstrap) is shown on wider screens.
_SHOWN_SOMETIMES = re.compile(
    r"^(?:(?:sm|md|lg|xl|2xl):(?:block|inline|flex|grid|table|contents)\S*|d-\w+-(?:block|inline|flex|grid|table)\S*)$"
)
_STYLE_RULE = re.compile(r"([^{}@]+)\{([^{}]*)\}")
_MEDIA_BLOCK = re.compile(r"@[^{}]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}")


def _stylesheet_hidden(soup) -> tuple[set[str], set[str]]:
    """Classes and ids that the page's own ``<style>`` rules hide (``.x { display: none }``).

    Only simple selectors (``.class``, ``#id``, ``tag.class``) are read, and rules inside ``@media``
    (print-only or screen-size rules) are skipped: a browser engine would be needed for the rest.
    """
    classes: set[str] = set()
    ids: set[str] = set()
    for style in soup.find_all("style"):
        css = _MEDIA_BLOCK.sub(" ", re.sub(r"/\*.*?\*/", " ", style.get_text(), flags=re.S))
        for selectors, body in _STYLE_RULE.findall(css):
            decls = ";".join(d.strip() for d in body.split(";"))
            if not (_HIDDEN_STYLE.search(decls) or (_ZERO_BOX.search(decls) and _OVERFLOW_HIDDEN.search(decls))):
                continue
            for sel in selectors.split(","):
                m = re.fullmatch(r"\s*[a-zA-Z0-9]*([.#])([\w-]+)\s*", sel)
                if m:
                    (classes if m.group(1) == "." else ids).add(m.group(2))
    return classes, ids


def _is_hidden(tag, hidden_classes: Collection[str] = (), hidden_ids: Collection[str] = ()) -> bool:
    """Elements a reader does not see: ``hidden``/``aria-hidden`` attributes, hiding inline styles
    (``display:none``, ``visibility:hidden``, zero size or opacity, off-screen positions, clipping),
    a hiding class of the common CSS frameworks, or a class/id the page's ``<style>`` hides.

    Hidden text is a classic way to plant instructions in a page (``untrusted.py``). A browser
    engine would be needed to evaluate every rule (external stylesheets, scripts, text coloured
    like its background); this covers what the element and the page itself declare.
    """
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    style = tag.get("style") or ""
    if _HIDDEN_STYLE.search(style) or (_ZERO_BOX.search(style) and _OVERFLOW_HIDDEN.search(style)):
        return True
    classes = tag.get("class") or []
    if isinstance(classes, str):
        classes = classes.split()
    if any(c in _HIDING_CLASSES or c in hidden_classes for c in classes) and not any(
        _SHOWN_SOMETIMES.match(c) for c in classes
    ):
        return True
    return bool(hidden_ids) and tag.get("id") in hidden_ids


def _read_html(raw: bytes) -> Extraction:
    from bs4 import BeautifulSoup, NavigableString
    from bs4.element import Comment

    soup = BeautifulSoup(raw, "html.parser")
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.get_text(" ", strip=True)
    meta_date = ""
    for meta in soup.find_all("meta"):
        key = str(meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in _DATE_META and meta.get("content"):
            meta_date = str(meta["content"])
            break
    hidden_classes, hidden_ids = _stylesheet_hidden(soup)
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(lambda t: _is_hidden(t, hidden_classes, hidden_ids)):  # unseen: not indexed
        if not tag.decomposed:
            tag.decompose()
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    # Collapse source whitespace in text nodes (except inside <pre>), then mark structure.
    for s in list(soup.find_all(string=True)):
        if isinstance(s, Comment) or not isinstance(s, NavigableString):
            continue
        if s.find_parent(["pre", "textarea"]) is None:
            collapsed = re.sub(r"\s+", " ", str(s))
            if collapsed != str(s):
                s.replace_with(collapsed)
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_HEADING_TAGS):
        tag.insert(0, _HEAD)  # inside the heading's own paragraph markers: flags that paragraph
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(_PARA)
        tag.insert_after(_PARA)
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" ")
    paragraphs = []
    for block in soup.get_text().split(_PARA):
        is_heading = block.lstrip().startswith(_HEAD)
        lines = [ln.strip() for ln in block.replace(_HEAD, "").split("\n")]
        text = "\n".join(ln for ln in lines if ln)
        if text:
            paragraphs.append((text, is_heading))
    text, headings = _joined(paragraphs)
    return Extraction(text, title, meta_date, headings=headings)


# --------------------------------------------------------------------------- PDF


def _read_pdf(raw: bytes) -> Extraction:
    # pypdf logs a WARNING for every oddity of messy real-world PDFs; keep ingest output readable.
    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return _read_pdf_quiet(raw)
    finally:
        log.setLevel(level)


def _read_pdf_quiet(raw: bytes) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")  # owner-password-only PDFs open with an empty user password
            except DependencyError:
                raise UnreadableFile(
                    "PDF is encrypted with AES; install the 'cryptography' package to read it"
                ) from None
            if not ok:
                raise UnreadableFile("PDF is password-protected")
        pages = reader.pages
        n_pages = len(pages)
    except UnreadableFile:
        raise
    except FileNotDecryptedError:
        raise UnreadableFile("PDF is password-protected") from None
    except Exception as e:  # pypdf raises many types on broken files
        raise UnreadableFile(f"corrupt PDF: {_pdf_problem(raw, e)}") from None

    raw_pages: list[str] = []
    failures: list[Exception] = []
    for page in pages:
        try:
            raw_pages.append(page.extract_text() or "")
        except Exception as e:  # one broken page should not lose the rest
            failures.append(e)
            raw_pages.append("")
    if n_pages and len(failures) == n_pages:
        raise UnreadableFile(f"corrupt PDF: {_short(failures[0])}")
    text, starts = _pdf_text(raw_pages)

    title = when = ""
    try:
        meta = reader.metadata
    except Exception:
        meta = None
    if meta:
        try:
            title = _real_pdf_title(str(meta.title or ""))
        except Exception:
            pass
        for attr in ("creation_date", "modification_date"):  # authored first; a re-save changes ModDate
            try:
                stamp = getattr(meta, attr)
            except Exception:  # malformed D:... strings raise
                continue
            if stamp:
                when = stamp.date().isoformat()
                break
    return Extraction(text, title, when, pages=starts)


# Line joining. pypdf returns one string per page with a "\n" at every *visual* line end, so a
# sentence wrapped over three lines would be three "sentences" (text.sentences splits at "\n")
# and a quote would read "...called TrustME-PoW; in the". Lines are therefore re-flowed into
# paragraphs with the classic test: a line break is deliberate when the next line's first word
# would have fitted on the line (the page's longest line stands in for the measure); a
# deliberate break after a sentence end, or after a short line followed by a capital (a
# heading, a list item), ends a paragraph; any other break is a wrap and becomes a space.
# Widths are counted in characters, not points, so the test is approximate; it errs towards
# joining, and a wrong join costs less (one sentence too long) than a wrong split (a fragment).
_SENT_END = re.compile(r"[.!?:…][\"'”’)\]]*$")
_ITEM = re.compile(r"^(?:[•▪◦●‣∙*–-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_META_LINE = re.compile(r"(?:title|date|author|source|category|url):", re.I)
_HYPHENATED = re.compile(r"(\w+)-$")


def _pdf_text(raw_pages: list[str]) -> tuple[str, list[int]]:
    """The document text and the offset where each page starts in it.

    Pages are joined by a blank line, except that a sentence running on from one page to the
    next is joined by a space (the page still starts exactly at its own first character). A
    page without text starts where the next text starts, so ``bisect_right(starts, offset)`` is
    the page of any offset.
    """
    words = set(re.findall(r"\w+(?:-\w+)*", " ".join(raw_pages).lower()))  # spellings the document uses
    text, starts = "", []
    for raw in raw_pages:
        paragraphs = _reflow(raw, words)
        if not paragraphs:
            starts.append(-1)  # filled in below
            continue
        body = "\n\n".join(paragraphs)
        if text:
            runs_on = not _SENT_END.search(text) and body[:1].islower()
            text += " " if runs_on else "\n\n"
        starts.append(len(text))
        text += body
    nxt = len(text)
    for i in range(len(starts) - 1, -1, -1):
        if starts[i] < 0:
            starts[i] = nxt
        nxt = starts[i]
    if starts:
        starts[0] = 0
    return text, starts


def _reflow(raw: str, words: set[str]) -> list[str]:
    """One page's extracted lines as paragraphs of whole sentences."""
    lines = [" ".join(ln.split()) for ln in raw.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    # A lone page number (a running header or footer) is no part of the text.
    if lines and _PAGE_NUMBER.match(lines[-1]):
        lines.pop()
    if lines and _PAGE_NUMBER.match(lines[0]):
        lines.pop(0)
    width = max((len(ln) for ln in lines), default=0)
    paragraphs: list[str] = []
    current, prev = "", ""  # the paragraph so far, and its last visual line
    for line in lines:
        if not line:  # pypdf's own blank line: a paragraph break
            if current:
                paragraphs.append(current)
            current = prev = ""
            continue
        if not current:
            current = prev = line
            continue
        brk = _line_break(prev, line, width)
        if brk == "paragraph":
            paragraphs.append(current)
            current = line
        elif brk == "line":
            current += "\n" + line
        else:
            current = _join(current, line, words)
        prev = line
    if current:
        paragraphs.append(current)
    return paragraphs


def _line_break(a: str, b: str, width: int) -> str:
    """'paragraph', 'line' or '' (a wrap) between visual lines ``a`` and ``b``."""
    if _META_LINE.match(a):  # a "Title: ... / Date: ..." block keeps its lines (see frontmatter.parse)
        return "line" if _META_LINE.match(b) else "paragraph"
    if _ITEM.match(b):
        return "line"  # the next list item
    first = b.split(" ", 1)[0]
    fits = len(a) + 1 + len(first) <= 0.9 * width
    if not fits:
        return ""
    if _SENT_END.search(a):
        return "paragraph"
    if len(a) <= 0.75 * width and (b[:1].isupper() or b[:1].isdigit()) and a[-1] not in ",;-(/&":
        return "paragraph"  # a heading or a short line of its own
    return ""


def _join(current: str, line: str, words: set[str]) -> str:
    """Join a wrapped line: a space, or across a hyphen the spelling the document uses."""
    if current.endswith("\u00ad"):  # soft hyphen: the word was split for layout only
        return current[:-1] + line
    m = _HYPHENATED.search(current)
    if m and line[:1].isalnum():
        head, tail = m.group(1), re.match(r"\w*", line).group()  # type: ignore[union-attr]  # \w* always matches
        kept = f"{head}-{tail}".lower() in words or head.lower() in _COMPOUND_HEADS
        if not line[:1].islower() or (kept and (head + tail).lower() not in words):
            return current + line  # "Franco-" + "German", "2019-" + "2020", "well-" + "known" when so spelt elsewhere
        return current[:-1] + line  # "extrac-" + "tion": one word broken for the line
    if current.endswith(("—", "/")):
        return current + line
    return current + " " + line


# First halves of compounds that keep their hyphen ("well-known", "self-made"); typesetting never
# breaks a plain word after these letters.
_COMPOUND_HEADS = {"well", "self", "ill", "non", "half", "cross", "full", "so"}


def _real_pdf_title(title: str) -> str:
    """The metadata title when it names the document, '' when it is a placeholder or a file name.

    Word, PowerPoint and PDF printers fill /Title with "Microsoft Word - draft3.doc", a path or
    "untitled"; such a title is worse than the first heading of the first page.
    """
    t = " ".join(title.split())
    low = t.lower()
    if not t or low in _PLACEHOLDER_TITLES:
        return ""
    if re.match(r"microsoft (word|powerpoint|excel) - ", low) or _FILE_NAME.search(low):
        return ""
    if " " not in t and (re.search(r"[\\/_\d]", t) or len(t) > 40):  # "report_final_v2", "C:\\x", an id
        return ""
    if not re.search(r"[A-Za-z\u00c0-\uffff]", t):  # digits and punctuation only
        return ""
    return t


_FILE_NAME = re.compile(r"\.(docx?|pdf|rtf|odt|tex|dvi|e?ps|indd|pptx?|xlsx?|txt|html?|qxd)$")
_PLACEHOLDER_TITLES = {
    "untitled",
    "untitled document",
    "title",
    "document",
    "no title",
    "slide 1",
    "powerpoint presentation",
    "microsoft word document",
    "pdf",
    "new document",
}


def _pdf_problem(raw: bytes, e: Exception) -> str:
    if b"%PDF-" not in raw[:1024]:
        return "not a PDF file (no %PDF header)"
    if b"%%EOF" not in raw[-2048:]:
        return "truncated file (no end-of-file marker)"
    return _short(e)


def _short(e: Exception) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= 100 else msg[:97] + "..."


# --------------------------------------------------------------------------- DOCX


def _read_docx(raw: bytes) -> Extraction:
    import docx
    from docx.table import Table

    try:
        d = docx.Document(io.BytesIO(raw))
    except Exception as e:  # not a zip, missing parts, bad XML
        raise UnreadableFile(f"corrupt or not a Word .docx file: {_short(e)}") from None
    parts: list[tuple[str, bool]] = []
    styled_title = ""
    try:
        for block in d.iter_inner_content():
            if isinstance(block, Table):
                parts.extend((row, False) for row in _table_rows(block))
            elif block.text.strip():
                style = _style_name(block)
                if style == "title" and not styled_title:
                    styled_title = block.text
                parts.append((block.text.strip("\n"), bool(re.fullmatch(r"heading [1-9]", style))))
    except Exception as e:
        raise UnreadableFile(f"corrupt .docx: {_short(e)}") from None
    title = when = ""
    try:
        props = d.core_properties
        title = props.title or styled_title
        for stamp in (props.created, props.modified):  # authored first; any save changes "modified"
            if stamp and stamp != _PYTHON_DOCX_TEMPLATE_DATE:
                when = stamp.date().isoformat()
                break
    except Exception:
        pass
    text, headings = _joined(parts)
    return Extraction(text, title, when, headings=headings)


# Every file written by python-docx from its built-in template carries that template's stamp,
# which says nothing about the document.
_PYTHON_DOCX_TEMPLATE_DATE = datetime(2013, 12, 23, 23, 15, tzinfo=UTC)


def _style_name(paragraph) -> str:
    """The paragraph style's name, lower-case ('heading 1', 'title'); '' when unknown."""
    try:
        style = paragraph.style
    except Exception:  # a style id missing from styles.xml
        return ""
    return (style.name or "").lower() if style is not None else ""


def _table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells, last = [], None
        for cell in row.cells:
            if cell._tc is last:  # a merged cell repeats; keep it once
                continue
            last = cell._tc
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


# --------------------------------------------------------------------------- metadata


def _first_line_title(text: str, limit: int = 90) -> str:
    """A plain text file's first line, shortened at a word: a news lede names its story
    far better than a file name like 000_e58740dbd93eda86 does."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—-–") + "…"


def _first_md_heading(text: str) -> str:
    return next((t for _, level, t in _md_heading_levels(text) if level == 1), "")


_MD_HEADING = re.compile(r"[ ]{0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)


def _md_headings(text: str) -> list[tuple[int, str]]:
    return [(pos, t) for pos, _, t in _md_heading_levels(text)]


def _md_heading_levels(text: str) -> list[tuple[int, int, str]]:
    """ATX headings (``#`` to ``######``) outside code fences and front matter: (line offset, level, text)."""
    headings, in_fence, pos = [], False, 0
    lines = text.split("\n")
    skip = 0
    if lines and lines[0].strip().lstrip("\ufeff") == "---":  # front matter: YAML comments start with '#'
        for k, line in enumerate(lines[1:], 1):
            if line.strip() in ("---", "..."):
                skip = k + 1
                break
    for k, line in enumerate(lines):
        s = line.strip()
        if k >= skip:
            if s.startswith(("```", "~~~")):
                in_fence = not in_fence
            elif not in_fence:
                m = _MD_HEADING.fullmatch(line.lstrip("\ufeff"))
                if m and m.group(2).strip("# \t"):
                    headings.append((pos, len(m.group(1)), m.group(2).strip()))
        pos += len(line) + 1
    return headings
