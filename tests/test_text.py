from conftest import SEED_FILE

from assistant.text import chunk_spans, estimate_tokens, sentences


def test_sentences_keep_abbreviations_and_offsets():
    text = "The U.S. military drafted plans. Mr. Smith said no! Was it approved? Yes.\nNew line here"
    got = [text[s.start : s.end] for s in sentences(text)]
    assert got == [
        "The U.S. military drafted plans.",
        "Mr. Smith said no!",
        "Was it approved?",
        "Yes.",
        "New line here",
    ]


def test_chunks_are_exact_bounded_and_overlap():
    text = SEED_FILE.read_text(encoding="utf-8") * 3
    spans = chunk_spans(text, 120)
    assert len(spans) > 3
    for a, b in zip(spans, spans[1:]):
        assert a.start < b.start  # ordered
        assert b.start <= a.end or not text[a.end : b.start].strip()  # overlapping or adjacent
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert estimate_tokens(text[s.start : s.end]) <= 120 or len(sentences(text, s.start, s.end)) == 1
    covered = set()
    for s in spans:
        covered.update(range(s.start, s.end))
    body = {i for i, ch in enumerate(text) if not ch.isspace()}
    assert body <= covered  # no text is lost between chunks


def test_overlong_sentence_is_cut_at_words():
    text = "word " * 1000
    spans = chunk_spans(text, 50)
    assert len(spans) >= 20
    assert all(estimate_tokens(text[s.start : s.end]) <= 50 for s in spans)


def test_token_estimate_errs_high_against_minilm_tokenizer(shared_embedder):
    text = SEED_FILE.read_text(encoding="utf-8")
    tok = shared_embedder.model.tokenizer
    for s in chunk_spans(text, 200):
        piece = text[s.start : s.end]
        assert len(tok.tokenize(piece)) <= 256
