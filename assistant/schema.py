"""The records that flow through the pipeline: files -> Document -> Chunk -> Passage -> Answer.

Every span is a pair of character offsets into ``Document.text``; a citation's quote is
always ``Document.text[start:end]``, never a paraphrase, so it can be checked by anyone.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    """A readable file: its text (whole decoded content for .txt/.md, extracted text otherwise)."""

    source: str  # absolute path of the file
    text: str
    title: str
    date: str  # ISO date (YYYY-MM-DD) the document states (front matter, file metadata), else its modification date
    hash: str  # sha256 of the file's bytes: the unit of change for incremental ingest
    pages: list[int] = field(default_factory=list)  # PDF: text offset where page i+1 starts; [] without pages
    headings: list[tuple[int, str]] = field(default_factory=list)  # (offset, heading text) in reading order
    outlet: str = ""  # who published it, from the front matter (``frontmatter.OUTLET_KEYS``); '' when unknown
    titled: bool = False  # ``title`` is the document's own (front matter, heading, metadata), not its file name
    dated: bool = False  # ``date`` is the document's own (front matter or file metadata), not the file's mtime
    front_matter: dict[str, str] = field(default_factory=dict)  # its ``Key: value`` lines (``frontmatter.parse``)
    body_start: int = 0  # offset where the text after the front matter starts

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding ``offset`` (None for formats without pages)."""
        return bisect_right(self.pages, offset) if self.pages else None

    def section_at(self, offset: int) -> str:
        """The nearest heading at or above ``offset`` ('' before the first heading)."""
        i = bisect_right([h[0] for h in self.headings], offset)
        return self.headings[i - 1][1] if i else ""


@dataclass
class Chunk:
    """A span of a document, the unit that is embedded and indexed."""

    id: str
    source: str
    title: str
    date: str
    doc_hash: str
    start: int
    end: int
    text: str  # == document text[start:end]
    context: str = ""  # the prefix embedded and indexed with the text (``ingest.index_prefix``); never parsed back
    outlet: str = ""  # the document's outlet (``Document.outlet``)
    titled: bool = False  # whether ``title`` is the document's own (``Document.titled``)
    dated: bool = False  # whether ``date`` is the document's own (``Document.dated``)
    page: int | None = None  # 1-based page where the chunk starts (PDFs; None for formats without pages)
    section: str = ""  # the nearest heading above the chunk start
    page_starts: list[int] = field(default_factory=list)  # document offsets of later pages starting inside
    section_starts: list[tuple[int, str]] = field(default_factory=list)  # headings starting inside: (offset, text)

    def page_at(self, offset: int) -> int | None:
        """The page of a document offset inside this chunk: a quote's own page, not the chunk's."""
        return None if self.page is None else self.page + bisect_right(self.page_starts, offset)

    def section_at(self, offset: int) -> str:
        i = bisect_right([h[0] for h in self.section_starts], offset)
        return self.section_starts[i - 1][1] if i else self.section


@dataclass
class Passage:
    """A retrieved chunk with its fused score and the scores it came from."""

    chunk: Chunk
    score: float
    dense: float | None = None  # cosine similarity, when the dense retriever found it
    lexical: float | None = None  # BM25 score, when the lexical retriever found it

    def to_dict(self) -> dict:
        d = asdict(self.chunk)
        d.update(score=round(self.score, 4), dense=self.dense, lexical=self.lexical)
        return d


@dataclass
class Citation:
    n: int
    source: str
    title: str
    date: str
    start: int
    end: int
    quote: str
    score: float
    page: int | None = None  # 1-based page of the quote's start (PDFs); None where the format has no pages
    section: str = ""  # the nearest heading above the quote ('' where none)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)  # what retrieval found (closest passages on refusal)
    standalone_question: str | None = None  # the rewritten question, for a chat follow-up
    scope: list[str] = field(default_factory=list)  # the sources asked within (empty: the whole index)
    removed_claims: list[str] = field(default_factory=list)  # draft sentences that failed verification
    timings: dict = field(default_factory=dict)  # retrieve_s, first_token_s, total_s
    context: list[tuple[str, int, int, str]] = field(default_factory=list)  # (source, start, end, text) the LLM read
    checks: list[dict] = field(default_factory=list)  # judge calls: kind, text, p (P(yes)), ok, sources
    language: str = "en"  # the question's language (ISO 639-1); the answer is in it
    question_en: str | None = None  # the question as answered, when it was translated to English
    answer_en: str | None = None  # the verified English answer the reply was translated from

    def to_dict(self) -> dict:
        """The `assistant ask --json` and web `/ask` shape."""
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "timings": self.timings,
            "standalone_question": self.standalone_question,
            "scope": self.scope,
            "removed_claims": self.removed_claims,
            "checks": self.checks,
            "language": self.language,
            "question_en": self.question_en,
            "answer_en": self.answer_en,
        }
