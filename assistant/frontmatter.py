"""Front matter: the ``Key: value`` lines at the top of a document, and what they say.

Many exported articles, notes and scraped pages start with a block of metadata lines
(``Title: ...``, ``Source: ...``, ``Date: ...``, or a ``---`` fenced block as Markdown tools
write it) before the body. That block is read once, at extraction (``documents.py``), into
``Document.front_matter`` (every key, lower-cased, in file order) and ``Document.body_start``
(where the body begins); ingest indexes the fields with each chunk (``ingest.index_prefix``)
and the title, outlet and date travel as structured fields of every chunk (``schema.Chunk``),
so nothing downstream parses a header string back.

Any keys are accepted. A few have a meaning, looked up through small synonym lists:

- the **title**: ``title``;
- the **date**: ``date``, ``published``, ``pubdate``, ``publication_date``, ``published_at``;
- the **outlet** (who published it, what a question names: "reported by TechCrunch"):
  ``source``, ``outlet``, ``publisher``, ``publication``, ``site``, ``site_name``, ``website``,
  ``newspaper``. The first key found in that order wins.

A block is front matter only when it names a title, a date or an outlet, so a body that happens
to begin with "Note: remember ..." is not mistaken for metadata. Plain blocks end at the first
line that is not ``Key: value`` (a blank line, mostly) and hold at most ``MAX_LINES`` lines; a
``---`` block ends at its closing ``---`` (its other lines, YAML lists for instance, are skipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

MAX_LINES = 30
_LINE = re.compile(r"([A-Za-z][A-Za-z0-9 _-]{0,29}):[ \t]*(.*)")
TITLE_KEYS = ("title",)
DATE_KEYS = ("date", "published", "pubdate", "publication_date", "published_at")
OUTLET_KEYS = ("source", "outlet", "publisher", "publication", "site", "site_name", "website", "newspaper")
PLACEHOLDERS = {"unknown", "n/a", "na", "none", "null", "-", "--", "?", "undated", "no date"}


@dataclass(frozen=True)
class FrontMatter:
    fields: dict[str, str] = field(default_factory=dict)  # lower-cased key -> value, in file order
    end: int = 0  # offset just past the block (0: none)

    def first(self, keys: tuple[str, ...]) -> str:
        """The value of the first of ``keys`` present with a value ('' when none)."""
        for k in keys:
            v = self.fields.get(k, "")
            if v:
                return v
        return ""

    @property
    def title(self) -> str:
        return self.first(TITLE_KEYS)

    @property
    def date(self) -> str:
        return self.first(DATE_KEYS)

    @property
    def outlet(self) -> str:
        """The publisher's name as written; '' when none or a placeholder ("unknown")."""
        v = self.first(OUTLET_KEYS)
        return "" if v.lower() in PLACEHOLDERS else v


def _key(raw: str) -> str:
    """'Site Name', 'site-name' -> 'site_name' (how the synonym lists spell keys)."""
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def parse(text: str) -> FrontMatter:
    """The front matter at the very start of ``text`` (empty when there is none)."""
    start = 1 if text.startswith("\ufeff") else 0
    lines = text[start:].split("\n", 2 * MAX_LINES + 1)[: 2 * MAX_LINES + 1]
    fields: dict[str, str] = {}
    if lines[0].strip() == "---":  # fenced: up to the closing line, other lines skipped
        pos = start + len(lines[0]) + 1
        for line in lines[1:]:
            if line.strip() in ("---", "..."):
                end = min(pos + len(line) + 1, len(text))
                break
            kv = _LINE.fullmatch(line.strip())
            if kv:
                fields.setdefault(_key(kv.group(1)), kv.group(2).strip().strip("\"'"))
            pos += len(line) + 1
        else:
            return FrontMatter()  # never closed: not front matter
    else:  # plain: consecutive Key: value lines
        end = start
        for line in lines[:MAX_LINES]:
            kv = _LINE.fullmatch(line.rstrip())
            if not kv:
                break
            fields.setdefault(_key(kv.group(1)), kv.group(2).strip())
            end = min(end + len(line) + 1, len(text))
    if not fields.keys() & {*TITLE_KEYS, *DATE_KEYS, *OUTLET_KEYS}:
        return FrontMatter()
    return FrontMatter(fields, end)


# --------------------------------------------------------------------------- dates

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%d %B, %Y",
    "%d %b, %Y",
    "%B %Y",
    "%b %Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
)


def normalize_date(value: str) -> str:
    """YYYY-MM-DD when ``value`` is a date that has a year; raw value otherwise; '' if a placeholder."""
    v = " ".join(value.split())
    if v.lower() in PLACEHOLDERS:
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
