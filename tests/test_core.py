"""End to end with the real embedded LLM (Qwen2.5-Coder-1.5B GGUF), real embedder, real Chroma."""

import re

import pytest
from conftest import SEED_QUESTION

from assistant import REFUSAL, Assistant

pytestmark = pytest.mark.llm


def exact(citation) -> bool:
    return Assistant.text_of(citation.source)[citation.start : citation.end] == citation.quote


def test_seed_question_is_answered_no_with_exact_citations(seed_assistant):
    a = seed_assistant.ask(SEED_QUESTION)
    assert not a.refused, a.answer
    assert re.search(r"\b(no|not|hasn't|has not)\b", a.answer.lower()), a.answer
    assert a.citations and all(exact(c) for c in a.citations)
    assert any("authoriz" in c.quote or "approval" in c.quote for c in a.citations)
    shown = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
    assert shown == {c.n for c in a.citations}  # every number shown points at a citation
    t = a.timings
    assert 0 < t["retrieve_s"] <= t["first_token_s"] <= t["total_s"]


def test_off_corpus_question_is_refused_with_closest_passages(seed_assistant):
    a = seed_assistant.ask("What is the capital of Australia?")
    assert a.refused and a.answer.startswith(REFUSAL) and not a.citations


def test_stream_shows_passages_first_then_verified_text(seed_assistant):
    events = list(seed_assistant.stream("How many sources spoke to NBC News about the strike plans?"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "passages" and kinds[-1] == "answer" and "text" in kinds
    answer = events[-1].data
    assert "".join(e.data for e in events if e.kind == "text") == answer.answer
    assert not answer.refused and re.search(r"\b(four|4)\b", answer.answer.lower()), answer.answer


def test_follow_up_in_a_conversation(seed_assistant):
    history = [
        (
            "What are U.S. military officials planning against Venezuela?",
            "U.S. military officials are drafting plans for strikes on drug traffickers inside Venezuela [1].",
        )
    ]
    a = seed_assistant.chat("Has Trump approved them?", history)
    assert a.standalone_question and a.standalone_question != "Has Trump approved them?"
    assert "strike" in a.standalone_question.lower() or "plan" in a.standalone_question.lower()
    assert len(history) == 2
    assert not a.refused and a.answer.startswith("No"), a.answer
    assert a.citations and all(exact(c) for c in a.citations)
    assert any("authoriz" in c.quote or "approval" in c.quote for c in a.citations)


def test_two_live_turns_whose_follow_up_says_them_get_the_right_no(seed_assistant):
    history: list = []
    first = seed_assistant.chat("What has the US military been drafting?", history)
    assert not first.refused and "strike" in first.answer.lower(), first.answer
    a = seed_assistant.chat("Has the president approved them?", history)
    assert not a.refused and a.answer.startswith("No"), a.answer
    assert '" [' not in a.answer.split('"')[0]  # no fragment such as '" [1].'
    assert all(exact(c) for c in a.citations) and any(
        "authoriz" in c.quote or "approval" in c.quote for c in a.citations
    )


def test_empty_question_is_an_error(seed_assistant):
    with pytest.raises(ValueError, match="empty"):
        seed_assistant.ask("   ")


def test_seed_question_within_the_seed_file_cites_only_it(seed_assistant):
    from conftest import SEED_FILE

    a = seed_assistant.ask(SEED_QUESTION, docs=[str(SEED_FILE)])
    assert not a.refused, a.answer
    assert a.scope == [str(SEED_FILE)] and a.citations
    assert all(c.source == str(SEED_FILE) and exact(c) for c in a.citations)


def test_who_is_the_description_is_answered_with_the_name_written_beside_it(seed_assistant):
    a = seed_assistant.ask("Who is the Venezuelan president mentioned in the article?")
    assert not a.refused and a.answer.startswith("Nicolás Maduro:"), a.answer
    assert a.citations and all(exact(c) for c in a.citations)
    assert "Venezuelan President Nicolás Maduro" in a.citations[0].quote
