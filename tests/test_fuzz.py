"""Property-based fuzzing (hypothesis) of the paths arbitrary text and bytes go through.

- text.sentences / text.chunk_spans: spans inside the text, in order, exact slices, all
  content covered, within the token budget;
- verify.check and friends, answer.split_sentences: never crash, and streaming a draft in
  random pieces loses no text;
- documents.read_document: random bytes under every supported suffix give a Document or
  UnreadableFile, nothing else;
- the ask path up to and after the LLM: random questions over a small real index, and a
  fake LLM streaming random drafts, always end in a well-formed Answer whose citations are
  exact quotes.

Example counts are bounded so the file runs in well under a minute on two cores.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest
from conftest import SEED_FILE
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_server_mode import DEV_CORPUS

from assistant.text import Span, chunk_spans, estimate_tokens, sentences

FAST = settings(max_examples=300, deadline=None, database=None, derandomize=True)
SLOW = settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Text that looks like prose (sentence ends, abbreviations, citations, numbers, quotes,
# blank lines) mixed with arbitrary unicode, which hypothesis shrinks well.
PIECES = [
    "The",
    "strike",
    "Dr.",
    "U.S.",
    "Mr.",
    "e.g.",
    "J.",
    "said",
    "not",
    "no",
    "4",
    "1,500",
    "3.5",
    "2023",
    "[1]",
    "[2, 3]",
    "[12]",
    "[",
    "]",
    ".",
    "!",
    "?",
    "…",
    "...",
    '"',
    "”",
    "'",
    "’",
    ")",
    "(",
    ",",
    ";",
    ":",
    " ",
    " ",
    " ",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    "\u00a0",
    "é",
    "日本",
    "Яблоко",
    "🚀",
    "Title: x\n",
    "Date: 2024-01-01\n",
    "I could not find the answer in the documents.",
]
prose = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)
texts = st.one_of(
    prose,
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=60).map("".join),
)


def _no_space(s: str) -> str:
    return "".join(s.split())


# --------------------------------------------------------------------------- text / chunking


@FAST
@given(text=texts, data=st.data())
def test_sentences_are_exact_ordered_trimmed_spans(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    spans = sentences(text, start, end)
    prev_end = start
    for s in spans:
        assert isinstance(s, Span)
        assert prev_end <= s.start < s.end <= end  # inside, non-empty, in order, no overlap
        piece = text[s.start : s.end]
        assert piece == piece.strip() and piece  # trimmed
        prev_end = s.end
    # Nothing but whitespace falls between or around the sentences.
    assert _no_space("".join(text[s.start : s.end] for s in spans)) == _no_space(text[start:end])


@FAST
@given(text=texts, max_tokens=st.integers(1, 300), data=st.data())
def test_chunk_spans_cover_the_text_in_order_within_budget(text, max_tokens, data):
    body = data.draw(st.integers(0, len(text)))
    chunks = chunk_spans(text, max_tokens, body_start=body)
    covered = [False] * len(text)
    for i, c in enumerate(chunks):
        assert body <= c.start < c.end <= len(text)
        piece = text[c.start : c.end]
        assert piece == piece.strip()
        assert estimate_tokens(piece) <= max_tokens or len(piece.split()) == 1, (piece, max_tokens)
        if i:
            prev = chunks[i - 1]
            assert prev.start < c.start and prev.end < c.end  # progress; overlap is at most a sentence
        for j in range(c.start, c.end):
            covered[j] = True
    assert all(covered[j] or text[j].isspace() for j in range(body, len(text)))


# --------------------------------------------------------------------------- verification / streaming


@FAST
@given(claim=texts, support=texts, question=texts)
def test_verify_functions_never_crash(claim, support, question):
    from assistant import verify

    result = verify.check(claim, support, question)
    assert isinstance(result.ok, bool) and isinstance(result.reason, str)
    assert isinstance(verify.strip_citations(claim), str)
    assert all(isinstance(n, int) for n in verify.cited_numbers(claim))
    assert isinstance(verify.is_refusal(claim), bool)
    verify.numbers(claim), verify.names(claim), verify.content(claim), verify.negated(claim)


@FAST
@given(draft=texts, cuts=st.lists(st.integers(0, 400), max_size=12))
def test_split_sentences_streams_a_draft_without_losing_text(draft, cuts):
    from assistant.answer import split_sentences

    bounds = sorted({min(c, len(draft)) for c in cuts} | {0, len(draft)})
    pieces = [draft[a:b] for a, b in zip(bounds, bounds[1:])]
    emitted, buffer = [], ""
    for piece in pieces + [None]:
        final = piece is None
        buffer += piece or ""
        complete, buffer = split_sentences(buffer, final=final)
        assert all(isinstance(s, str) and s.strip() for s in complete)
        emitted += complete
    assert buffer == ""
    assert _no_space("".join(emitted)) == _no_space(draft)


# --------------------------------------------------------------------------- reading files


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.one_of(
        st.binary(max_size=3000),
        st.sampled_from([b"%PDF-1.4\n", b"PK\x03\x04", b"<html>", b"\xff\xfe", b"\xef\xbb\xbf"]).flatmap(
            lambda head: st.binary(max_size=2000).map(lambda tail: head + tail)
        ),
    )
)
def test_read_document_on_random_bytes_gives_a_document_or_unreadable_file(tmp_path, raw):
    from assistant.documents import SUPPORTED, UnreadableFile, read_document
    from assistant.schema import Document

    for suffix in sorted(SUPPORTED):
        path = tmp_path / f"fuzz{suffix}"
        path.write_bytes(raw)
        try:
            doc = read_document(path)
        except UnreadableFile as e:
            assert str(e) and "\n" not in str(e)
            continue
        assert isinstance(doc, Document) and doc.text.strip()
        assert doc.hash == hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- the ask path


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, shared_embedder):
    from assistant import Assistant
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("fuzz-index")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILE, corpus / SEED_FILE.name)
    for f in sorted(DEV_CORPUS.glob("rgb-*.txt"))[:6]:
        shutil.copy(f, corpus / f.name)
    a = Assistant(Settings.load(index_dir=str(root / "index")))
    a.embedder = shared_embedder
    a.ingest(str(corpus))
    return a


questions = st.one_of(
    prose,
    st.text(min_size=1, max_size=200),
    st.sampled_from(
        [
            "Has Trump authorized the strikes?",
            "Who are they?",
            "4",
            "[1]",
            "???",
            "strikes strikes strikes",
            "Venezuela 2025 NBC",
        ]
    ),
)


@SLOW
@given(query=questions, k=st.integers(1, 12))
def test_search_on_random_queries(small_index, query, k):
    from assistant.documents import text_of
    from assistant.errors import InputError
    from assistant.text import clean_input

    if not clean_input(query):  # nothing to look for: a one-line error, not an empty result
        with pytest.raises(InputError, match="empty"):
            small_index.search(query, k)
        return
    passages = small_index.search(query, k)
    assert len(passages) <= k
    for p in passages:
        c = p.chunk
        assert text_of(c.source)[c.start : c.end] == c.text
        assert p.score == p.score  # not NaN


class FakeLLM:
    """Streams a hypothesis-made draft in hypothesis-made pieces instead of calling a model."""

    def __init__(self, pieces, p_yes=0.9):
        self.pieces, self.p_yes = pieces, p_yes

    def stream(self, messages, **kw):
        assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
        yield from self.pieces

    def complete(self, messages, **kw):
        return "".join(self.stream(messages, **kw))

    def yes_probability(self, messages):
        return self.p_yes


drafts = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "No, ",
                "Yes, ",
                "Trump has not authorized the strikes",
                " [1]",
                " [2]",
                "[3, 1]",
                ". ",
                "The plans are under review [2]. ",
                "officials said",
                " four ",
                "I could not find the answer in the documents.",
                "[99]",
                "\n",
                "!",
                " 10 drones ",
            ]
        ),
        st.text(max_size=15),
    ),
    max_size=25,
)


@SLOW
@given(question=questions, draft=drafts, p_yes=st.sampled_from([0.0, 0.3, 0.6, 1.0]))
def test_answer_path_with_a_fake_llm_always_ends_in_a_well_formed_answer(small_index, question, draft, p_yes):
    """Never a fragment: whatever the draft and the judge say, every shown sentence is whole and
    cites a valid source, or the answer is the refusal phrase with the closest passages."""
    from assistant import phrases
    from assistant.answer import Answerer
    from assistant.documents import text_of
    from assistant.schema import Answer
    from assistant.verify import cited_numbers, is_sentence

    assume(question.split())
    answerer = Answerer(small_index.retriever, lambda: FakeLLM(draft, p_yes), small_index.settings)
    events = list(answerer.stream(" ".join(question.split())))
    assert events[0].kind == "passages" and events[-1].kind == "answer"
    answer = events[-1].data
    assert isinstance(answer, Answer) and answer.answer.strip() and isinstance(answer.refused, bool)
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert text_of(c.source)[c.start : c.end] == c.quote
    if not answer.refused:
        streamed = "".join(e.data for e in events if e.kind == "text")
        assert streamed == answer.answer
        for piece in (e.data.strip() for e in events if e.kind == "text"):
            assert is_sentence(piece), piece
            assert cited_numbers(piece) and all(1 <= n <= len(answer.citations) for n in cited_numbers(piece))
    else:
        assert answer.answer.startswith(phrases.REFUSAL) and not answer.citations
