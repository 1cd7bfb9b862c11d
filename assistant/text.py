"""Text primitives with exact character offsets: sentences, chunks and terms.

Everything here returns ``(start, end)`` spans into the original string instead of
copies, because citations must slice the document's own text. llama-index's
SentenceSplitter does not keep offsets reliably (it normalizes whitespace), so the
splitter is ours: a regex with an abbreviation list, good enough for news prose.
Token counts are a word-piece estimate (long words count double) rather than a real
tokenizer, so chunking needs no model; the estimate errs high, keeping chunks under
MiniLM's 256-token window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREV = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "etc",
    "inc",
    "ltd",
    "co",
    "corp",
    "gen",
    "gov",
    "sen",
    "rep",
    "lt",
    "col",
    "sgt",
    "capt",
    "no",
    "fig",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "approx",
    "est",
    "dept",
    "univ",
    "mt",
    "ft",
}
# A sentence ends at . ! ? (plus closing quotes/brackets) followed by whitespace, or at a line break.
# Full-width marks end a sentence with no space after them (Chinese, Japanese: "。它的").
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]+[」』\"'”’）)\]]*|\n")
# Lone surrogates (undecodable bytes in argv, via surrogateescape) and control characters other
# than whitespace: no tokenizer or JSON encoder accepts the first, and neither means anything.
_JUNK = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD = re.compile(r"\w+(?:[.'’]\w+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself nor of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves according said says say reported report
    article articles news one new like get got also s t""".split()
)
NEGATIONS = frozenset({"not", "no", "never", "none", "nor", "neither", "without", "n't", "cannot"})


def clean_input(text: str | bytes | None) -> str:
    """A user's question or query as one clean line: bytes decoded leniently, junk dropped, spaces collapsed."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(_JUNK.sub(" ", text or "").split())


def shown_path(path: str) -> str:
    """A path as a terminal can print it: a file name that is not UTF-8 shows its bad bytes as U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of text[start:end], trimmed of surrounding whitespace, none empty."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    for m in _END.finditer(text, start, end):
        if m.group() != "\n":
            before = text[pos : m.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            nxt = text[m.end() : m.end() + 3].lstrip()
            # Not a boundary: an abbreviation or initial ("U.S.", "J."), or lower-case continuation.
            dot = m.group().startswith(".")
            if dot and (last in _ABBREV or (len(last) == 1 and last.isalpha())) or nxt[:1].islower():
                continue
        s, e = _trim(text, pos, m.end())
        if e > s:
            spans.append(Span(s, e))
        pos = m.end()
    s, e = _trim(text, pos, end)
    if e > s:
        spans.append(Span(s, e))
    return spans


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def estimate_tokens(text: str) -> int:
    """Upper-side estimate of BERT word pieces: one per word or mark, two for long words."""
    n = 0
    for w in re.findall(r"\w+|[^\w\s]", text):
        n += 1 + len(w) // 8
    return n


def terms(text: str) -> list[str]:
    """Content terms for lexical matching: lower-case words minus stop words, crudely stemmed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1 or w.isdigit()]


def stem(word: str) -> str:
    """A deliberately crude stemmer (plural and tense endings), enough to match 'strikes'/'strike'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def chunk_spans(text: str, max_tokens: int, body_start: int = 0) -> list[Span]:
    """Pack whole sentences into spans of at most max_tokens, overlapping by one sentence.

    A sentence longer than the budget is cut at word boundaries. Overlap keeps a fact that
    straddles a boundary retrievable from either side.
    """
    pieces: list[Span] = []
    for s in sentences(text, body_start):
        if estimate_tokens(text[s.start : s.end]) <= max_tokens:
            pieces.append(s)
            continue
        cut = s.start
        budget_words = list(re.finditer(r"\S+", text[s.start : s.end]))
        acc = 0
        for m in budget_words:
            t = estimate_tokens(m.group())
            if acc + t > max_tokens and acc:
                pieces.append(Span(*_trim(text, cut, s.start + m.start())))
                cut, acc = s.start + m.start(), 0
            acc += t
        pieces.append(Span(*_trim(text, cut, s.end)))

    chunks: list[Span] = []
    i = 0
    while i < len(pieces):
        j, total = i, 0
        while j < len(pieces):
            t = estimate_tokens(text[pieces[j].start : pieces[j].end])
            if total + t > max_tokens and j > i:
                break
            total += t
            j += 1
        chunks.append(Span(pieces[i].start, pieces[j - 1].end))
        if j >= len(pieces):
            break
        # Start the next chunk on the last sentence of this one, unless that makes no progress
        # or leaves no room for the next sentence (the chunk would lie inside this one).
        overlap = (
            j - 1 > i
            and (
                estimate_tokens(text[pieces[j - 1].start : pieces[j - 1].end])
                + estimate_tokens(text[pieces[j].start : pieces[j].end])
            )
            <= max_tokens
        )
        i = j - 1 if overlap else j
    return chunks
