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
* **One exception type.** Every reason a file cannot be used (missing, too large, empty,
  binary, encrypted, corrupt, no text, unsupported type) is an ``UnreadableFile`` with a
  one-line human reason, so ingest can report and skip instead of crashing.
* **Metadata** comes from a small ``Key: value`` header at the very start of the text (or
  YAML-style front matter between ``---`` lines); otherwise the first ``# heading``
  (.md), ``<title>`` (.html), PDF/DOCX metadata title, else the file-name stem. The date
  is normalised to ``YYYY-MM-DD`` when it carries a year; unparseable dates are kept raw;
  placeholders such as ``unknown`` and missing dates fall back to the file's modification
  date (UTC).
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
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from .schema import Document
from .errors import UnreadableFile

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

    meta_title = meta_date = ""
    try:
        if suffix in TEXT_SUFFIXES:
            text = _decode_text(raw)
        elif suffix in (".html", ".htm"):
            if b"\x00" in raw and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # NULs: not HTML text
                raise UnreadableFile("binary file")
            text, meta_title, meta_date = _read_html(raw)
        elif suffix == ".pdf":
            text, meta_title = _read_pdf(raw)
        else:  # .docx
            text, meta_title = _read_docx(raw)
    except UnreadableFile as e:
        e.path = source
        raise
    if not text.strip():
        hint = " (the PDF may be scanned images)" if suffix == ".pdf" else ""
        raise UnreadableFile("no text could be extracted" + hint, source)

    header = _parse_header(text)
    title = header.get("title", "").strip()
    if not title and suffix in (".md", ".markdown"):
        title = _first_md_heading(text)
    if not title:
        title = meta_title.strip()
    if not title and suffix in TEXT_SUFFIXES:
        title = _first_line_title(text)
    if not title:
        title = p.stem
    raw_date = header.get("date", "").strip() or meta_date.strip()
    doc_date = _normalize_date(raw_date) if raw_date else ""
    if not doc_date:
        doc_date = datetime.fromtimestamp(st.st_mtime, tz=timezone.utc).date().isoformat()
    return Document(
        source=source,
        text=text,
        title=" ".join(title.split()),
        date=doc_date,
        hash=hashlib.sha256(raw).hexdigest(),
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
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
    "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure", "figcaption", "address",
    "details", "summary", "caption", "body", "html",
]
_PARA = "\x1e"  # paragraph marker inserted around block elements
_DATE_META = ("article:published_time", "date", "dc.date", "dcterms.date", "pubdate",
              "publish-date", "datepublished")


_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em)?\s*(?:;|$))",
                           re.IGNORECASE)


def _is_hidden(tag) -> bool:
    """Inline-hidden elements (``hidden``, ``display:none``, ``visibility:hidden``, zero font size).

    Hidden text is a classic way to plant instructions in a page; stylesheet rules are not
    evaluated (that needs a browser engine), only what the element itself declares.
    """
    return tag.has_attr("hidden") or bool(_HIDDEN_STYLE.search(tag.get("style") or ""))


def _read_html(raw: bytes) -> tuple[str, str, str]:
    from bs4 import BeautifulSoup, NavigableString
    from bs4.element import Comment

    soup = BeautifulSoup(raw, "html.parser")
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.get_text(" ", strip=True)
    meta_date = ""
    for meta in soup.find_all("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in _DATE_META and meta.get("content"):
            meta_date = meta["content"]
            break
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):  # a reader never sees it, so neither may the index
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
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(_PARA)
        tag.insert_after(_PARA)
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" ")
    paragraphs = []
    for block in soup.get_text().split(_PARA):
        lines = [ln.strip() for ln in block.split("\n")]
        text = "\n".join(ln for ln in lines if ln)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs), title, meta_date


# --------------------------------------------------------------------------- PDF


def _read_pdf(raw: bytes) -> tuple[str, str]:
    # pypdf logs a WARNING for every oddity of messy real-world PDFs; keep ingest output readable.
    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return _read_pdf_quiet(raw)
    finally:
        log.setLevel(level)


def _read_pdf_quiet(raw: bytes) -> tuple[str, str]:
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

    texts: list[str] = []
    failures: list[Exception] = []
    for page in pages:
        try:
            t = page.extract_text() or ""
        except Exception as e:  # one broken page should not lose the rest
            failures.append(e)
            continue
        t = t.strip("\n")
        if t.strip():
            texts.append(t)
    if n_pages and len(failures) == n_pages:
        raise UnreadableFile(f"corrupt PDF: {_short(failures[0])}")

    title = ""
    try:
        meta = reader.metadata
        if meta and meta.title:
            title = str(meta.title)
            if title.strip().lower() in {"untitled", "untitled document", "title"}:
                title = ""
    except Exception:
        pass
    return "\n\n".join(texts), title


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


def _read_docx(raw: bytes) -> tuple[str, str]:
    import docx
    from docx.table import Table

    try:
        d = docx.Document(io.BytesIO(raw))
    except Exception as e:  # not a zip, missing parts, bad XML
        raise UnreadableFile(f"corrupt or not a Word .docx file: {_short(e)}") from None
    parts: list[str] = []
    try:
        for block in d.iter_inner_content():
            if isinstance(block, Table):
                parts.extend(_table_rows(block))
            elif block.text.strip():
                parts.append(block.text.strip("\n"))
    except Exception as e:
        raise UnreadableFile(f"corrupt .docx: {_short(e)}") from None
    title = ""
    try:
        title = d.core_properties.title or ""
    except Exception:
        pass
    return "\n\n".join(parts), title


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

_HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z0-9 _-]{0,29}):[ \t]*(.*)")
_PLACEHOLDER_DATES = {"unknown", "n/a", "na", "none", "null", "-", "--", "?", "undated", "no date"}


def _parse_header(text: str) -> dict[str, str]:
    """``Key: value`` lines (or ``---`` front matter) at the very start; keys lower-cased.

    Recognised only when it names a title or a date, so a body that happens to begin
    with "Note: ..." is not mistaken for metadata.
    """
    lines = text.lstrip("\ufeff").split("\n", 60)[:60]
    fields: dict[str, str] = {}
    if lines and lines[0].strip() == "---":  # front matter
        for line in lines[1:]:
            if line.strip() in ("---", "..."):
                break
            m = _HEADER_LINE.fullmatch(line.strip())
            if m:
                fields.setdefault(m.group(1).strip().lower(), m.group(2).strip().strip("\"'"))
        else:
            fields = {}
    else:
        for line in lines[:30]:
            m = _HEADER_LINE.fullmatch(line.rstrip())
            if not m:
                break
            fields.setdefault(m.group(1).strip().lower(), m.group(2).strip())
    if "title" not in fields and "date" not in fields:
        return {}
    return fields


def _first_line_title(text: str, limit: int = 90) -> str:
    """A plain text file's first line, shortened at a word: a news lede names its story
    far better than a file name like 000_e58740dbd93eda86 does."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—-–") + "…"


def _first_md_heading(text: str) -> str:
    in_fence = False
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if not in_fence:
            m = re.match(r"#\s+(.+?)\s*#*\s*$", s)
            if m:
                return m.group(1)
    return ""


_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y",
    "%d %B %Y", "%d %b %Y", "%d %B, %Y", "%d %b, %Y",
    "%B %Y", "%b %Y",
    "%m/%d/%Y", "%d.%m.%Y",
)


def _normalize_date(value: str) -> str:
    """YYYY-MM-DD when ``value`` is a date that has a year; raw value otherwise; '' if a placeholder."""
    v = " ".join(value.split())
    if v.lower() in _PLACEHOLDER_DATES:
        return ""
    iso = v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v
    try:
        return datetime.fromisoformat(iso).date().isoformat()
    except ValueError:
        pass
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]|$)", v)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            pass
    # "Friday, Dec. 1, 2023", "Sept. 5, 2023", "November 27, 2023 10:00 AM"
    cleaned = re.sub(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", "", v, flags=re.I)
    cleaned = re.sub(r"\bSept\b", "Sep", cleaned, flags=re.I)
    cleaned = re.sub(r"\b([A-Za-z]{3,9})\.", r"\1", cleaned)
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", cleaned)
    m = re.match(r"(.*?\b\d{4})\b", cleaned)  # drop a trailing time
    if m:
        head = m.group(1).strip()
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(head, fmt).date().isoformat()
            except ValueError:
                continue
    return v
