"""The answer pipeline with a scripted LLM (a unit test of verification and refusal logic;
the real LLM runs in tests/test_core.py)."""
import pytest

from assistant import phrases
from assistant.answer import Answerer, is_yes_no, split_sentences
from assistant.ingest import ingest
from assistant.prompts import render
from assistant.retrieve import Retriever
from assistant.store import Store

from conftest import SEED_QUESTION


class ScriptedLLM:
    """Replays a fixed draft, token by token, and records the prompts it was given."""

    def __init__(self, draft: str):
        self.draft, self.calls = draft, []

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None):
        self.calls.append(messages)
        for i in range(0, len(self.draft), 3):
            yield self.draft[i : i + 3]


@pytest.fixture
def answer_with(settings, shared_embedder, corpus):
    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    retriever = Retriever(store, shared_embedder, settings)

    def run(draft, question=SEED_QUESTION):
        llm = ScriptedLLM(draft)
        events = list(Answerer(retriever, lambda: llm, settings).stream(question))
        return events, llm

    return run


def _answer(events):
    assert [e.kind for e in events][0] == "passages" and events[-1].kind == "answer"
    return events[-1].data


def test_verified_claim_is_shown_with_an_exact_citation(answer_with):
    events, llm = answer_with("No, the strikes have not been authorized by President Donald Trump [2]. ")
    a = _answer(events)
    assert not a.refused and a.citations
    sources = llm.calls[0][1]["content"]
    assert "authorized" in a.citations[0].quote
    assert " ".join(a.citations[0].quote.split()) in sources  # the quote is what the model was shown
    for c in a.citations:
        assert open(c.source, encoding="utf-8").read()[c.start : c.end] == c.quote
    assert a.answer.startswith("No,") and "[1]" in a.answer
    # streamed text is exactly the final answer
    assert "".join(e.data for e in events if e.kind == "text") == a.answer
    # each citation is streamed before the first text that cites it, so a click works while streaming
    kinds = [e.kind for e in events]
    assert [e.data for e in events if e.kind == "citation"] == a.citations
    assert kinds.index("citation") < kinds.index("text")


def test_fabricated_claim_and_bad_citation_number_are_removed(answer_with):
    events, _ = answer_with(
        "No, the strikes have not been authorized by President Donald Trump [2]. "
        "Trump has ordered 10 drone strikes on Caracas [1]. Maduro resigned [99].")
    a = _answer(events)
    assert "10 drone" not in a.answer and "[99]" not in a.answer and "resigned" not in a.answer
    assert any("10 drone" in r for r in a.removed_claims)
    assert all(1 <= c.n <= len(a.citations) for c in a.citations)


def test_uncited_but_supported_claim_gets_a_citation(answer_with):
    a = _answer(answer_with("The options remain under review and have not been authorized by Trump.")[0])
    assert not a.refused and "[1]" in a.answer and "authorized" in a.citations[0].quote


def test_model_refusal_and_all_claims_failing_both_refuse_with_passages(answer_with):
    for draft in (phrases.REFUSAL, "Yes, Trump authorized the strikes on Monday [1]."):
        a = _answer(answer_with(draft)[0])
        assert a.refused and a.answer.startswith(phrases.REFUSAL) and not a.citations
        assert phrases.CLOSEST_PASSAGES in a.answer and a.passages
        assert a.context and all(text for *_, text in a.context)  # what the model read is still reported


def test_no_evidence_refuses_without_calling_the_llm(answer_with):
    events, llm = answer_with("Canberra is the capital [1].", question="What is the capital of Australia?")
    a = _answer(events)
    assert a.refused and llm.calls == []


def test_prompt_carries_the_shared_refusal_phrase_and_untrusted_warning():
    system = render("answer")
    assert phrases.REFUSAL in system and "untrusted" in system.lower()


def test_yes_no_detection_and_stream_splitting():
    assert is_yes_no("Has Trump authorized the strikes?") and not is_yes_no("Who leads Venezuela?")
    done, rest = split_sentences("No, it has not been approved. [1] The options rem", final=False)
    assert done == ["No, it has not been approved. [1]"] and rest == "The options rem"



def test_a_question_about_a_name_no_document_mentions_is_refused_without_the_llm(answer_with):
    events, llm = answer_with("Angela Merkel praised the strikes [1].", "What did Angela Merkel say about the strikes?")
    a = _answer(events)
    assert a.refused and not llm.calls
    assert a.answer.startswith(phrases.REFUSAL)
    assert phrases.not_mentioned(["Angela Merkel"]) in a.answer


def test_a_bare_citation_becomes_a_quote_of_that_source(answer_with):
    events, llm = answer_with("[2]")
    a = _answer(events)
    sources = llm.calls[0][1]["content"]
    quoted = next(ln for ln in sources.splitlines() if ln.startswith("[2] "))[4:]
    assert not a.refused and a.answer == f'The source says: "{quoted}" [1].'
    c = a.citations[0]
    assert open(c.source, encoding="utf-8").read()[c.start : c.end] == c.quote
