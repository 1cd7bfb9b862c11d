"""The answer pipeline with a scripted LLM and a scripted judge: a unit test of how answers are
built from evidence, checked and refused (the real LLM runs in tests/test_core.py and
tests/test_judge.py). The two small documents are written for these tests."""

import pytest

from assistant import phrases
from assistant.answer import Answerer, is_yes_no, split_sentences
from assistant.ingest import ingest
from assistant.prompts import render
from assistant.retrieve import Retriever
from assistant.store import Store
from assistant.verify import cited_numbers, is_sentence

GAZETTE = """Title: Riverside council delays the bridge vote
Source: Valley Gazette
Date: 2026-03-02

The Riverside town council postponed its vote on the Elm Street bridge until April. Mayor Dana Ortiz said the repairs will cost 3 million dollars. The council has not approved the new parking fees for the market square. Residents at the meeting asked for a second footpath on the bridge.
"""
COURIER = """Title: Engineers say the Elm Street bridge can stay open
Source: Hill Courier
Date: 2026-03-05

Engineers told the town that the Elm Street bridge can stay open to cars during the repairs. The state transport office will pay half of the repair bill, the engineers said. Work on the footpath is planned for the summer. Mayor Dana Ortiz thanked the engineers for their bridge inspection.
"""


class ScriptedLLM:
    """Replays a fixed draft token by token; the judge's P(yes) comes from a function of its prompt."""

    def __init__(self, draft: str, judge=lambda prompt: 0.9):
        self.draft, self.judge = draft, judge
        self.calls, self.judged = [], []

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None):
        self.calls.append(messages)
        for i in range(0, len(self.draft), 3):
            yield self.draft[i : i + 3]

    def complete(self, messages, **kw):
        return "".join(self.stream(messages))

    def yes_probability(self, messages):
        self.judged.append(messages[-1]["content"])
        return self.judge(messages[-1]["content"])


@pytest.fixture
def answer_with(settings, shared_embedder, tmp_path):
    docs_dir = tmp_path / "docs"
    docs_dir.mkdir()
    (docs_dir / "gazette.txt").write_text(GAZETTE, encoding="utf-8")
    (docs_dir / "courier.txt").write_text(COURIER, encoding="utf-8")
    store = Store(settings)
    ingest([str(docs_dir)], store, shared_embedder, settings, progress=False)
    retriever = Retriever(store, shared_embedder, settings)

    def run(draft, question, judge=lambda prompt: 0.9, docs=None):
        llm = ScriptedLLM(draft, judge)
        scoped = retriever.scoped([str(docs_dir / d) for d in docs]) if docs else retriever
        events = list(Answerer(scoped, lambda: llm, settings).stream(question))
        return events, llm

    return run


def _answer(events):
    assert [e.kind for e in events][0] == "passages" and events[-1].kind == "answer"
    return events[-1].data


def _exact(a):
    for c in a.citations:
        assert open(c.source, encoding="utf-8").read()[c.start : c.end] == c.quote


def test_a_grounded_claim_the_judge_accepts_is_shown_with_an_exact_citation(answer_with):
    q = "When will the council vote on the Elm Street bridge?"
    events, llm = answer_with("The council will vote on the bridge in April [1]. ", q)
    a = _answer(events)
    assert not a.refused and a.answer.endswith("[1].") and "April" in a.answer
    assert "April" in a.citations[0].quote
    _exact(a)
    assert len(llm.judged) == 1 and "April" in llm.judged[0] and q in llm.judged[0]
    assert a.checks and a.checks[0]["kind"] == "claim" and a.checks[0]["ok"]
    # streamed text is exactly the final answer, and each citation comes before the text citing it
    assert "".join(e.data for e in events if e.kind == "text") == a.answer
    kinds = [e.kind for e in events]
    assert [e.data for e in events if e.kind == "citation"] == a.citations
    assert kinds.index("citation") < kinds.index("text")


def test_a_fragment_is_never_shown_nor_judged(answer_with):
    q = "How much will the bridge repairs cost?"
    events, llm = answer_with('" [1]. ... [2].', q)
    a = _answer(events)
    assert a.refused and a.answer.startswith(phrases.REFUSAL) and llm.judged == []


def test_a_claim_the_judge_rejects_is_removed_and_the_answer_refuses_with_passages(answer_with):
    q = "Who will pay for the bridge repairs?"
    events, _ = answer_with("The town council will pay for the repairs [1].", q, judge=lambda p: 0.1)
    a = _answer(events)
    assert a.refused and not a.citations and phrases.CLOSEST_PASSAGES in a.answer and a.passages
    assert a.checks and not a.checks[0]["ok"]
    assert a.context and all(text for *_, text in a.context)  # what the model read is still reported


def test_an_uncited_claim_gets_the_source_it_came_from(answer_with):
    q = "Who will pay half of the repair bill?"
    a = _answer(answer_with("The state transport office will pay half of the repair bill.", q)[0])
    assert not a.refused and "[1]" in a.answer and "transport office" in a.citations[0].quote
    _exact(a)


def test_a_citation_number_outside_the_sources_is_never_shown(answer_with):
    q = "Who will pay half of the repair bill?"
    a = _answer(answer_with("The state transport office will pay half [99].", q)[0])
    assert "[99]" not in a.answer
    assert all(1 <= n <= len(a.citations) for n in cited_numbers(a.answer))


def test_a_bare_citation_is_judged_as_the_sentence_it_points_at(answer_with):
    q = "What did residents ask for at the meeting?"
    events, llm = answer_with("[1]", q)
    a = _answer(events)
    if not a.refused:  # the source numbered 1 may or may not be the footpath sentence
        assert a.citations and a.citations[0].quote.split()[0] in a.answer
    assert llm.judged  # the judge decided, not the bare marker


def test_a_yes_no_question_gets_a_verdict_from_the_judge_and_a_quoted_source(answer_with):
    q = "Has the council approved the new parking fees?"
    events, llm = answer_with("unused draft", q, judge=lambda prompt: 0.1)
    a = _answer(events)
    assert not llm.calls  # no draft: the verdict is computed, the text is a quotation
    # The quote denies what was asked, so the answer is a plain "No.", not "the documents do not say so".
    assert a.answer.startswith(phrases.NO + " ") and not a.refused
    assert "has not approved the new parking fees" in a.citations[0].quote
    assert [c["kind"] for c in a.checks] == ["question"]
    _exact(a)
    assert " ".join(a.citations[0].quote.split()) in a.answer


def test_each_part_of_a_yes_no_question_is_checked_against_the_outlet_it_names(answer_with):
    q = (
        "Does the Valley Gazette report that the council postponed the bridge vote, while the Hill Courier "
        "reports that the bridge can stay open to cars during the repairs?"
    )
    events, llm = answer_with("unused", q)
    a = _answer(events)
    assert a.answer.startswith("Yes. ") and [c["kind"] for c in a.checks] == ["part", "part", "question"]
    files = {c.source.rsplit("/", 1)[1] for c in a.citations}
    assert files == {"gazette.txt", "courier.txt"}
    gazette_part, courier_part, whole = llm.judged
    assert "Valley Gazette" in whole and "Hill Courier" in whole  # the whole question reads both
    assert "Valley Gazette" in gazette_part and "stay open" not in gazette_part
    assert "Hill Courier" in courier_part and "postponed" not in courier_part.split("Using only")[0]
    _exact(a)


def test_one_part_not_stated_makes_the_verdict_no_and_quotes_its_sources_first(answer_with):
    q = (
        "Does the Valley Gazette report that the council postponed the bridge vote, while the Hill Courier "
        "reports that the bridge will close for a year?"
    )
    judge = lambda prompt: (
        0.05
        if "close for a year" in prompt.split("Using only")[1] and "Gazette" not in prompt.split("Using only")[1]
        else 0.95
    )
    a = _answer(answer_with("unused", q, judge=judge)[0])
    assert a.answer.startswith(phrases.NOT_STATED) and a.citations[0].source.endswith("courier.txt")
    assert [c["p"] for c in a.checks] == [0.95, 0.05, 0.95]  # the whole question passes; one part does not


#: A question in two parts whose evidence (one sentence in each document) shares one name.
SHARED_NAME_QUESTION = (
    "Who is the official that the Valley Gazette quotes on the cost of the repairs, "
    "and that the Hill Courier says thanked the engineers for the inspection?"
)


def test_a_question_in_parts_is_answered_with_the_name_their_evidence_shares(answer_with):
    q = SHARED_NAME_QUESTION
    events, llm = answer_with("The Hill Courier is the official [1].", q)
    a = _answer(events)
    assert not llm.calls  # no draft: the name comes from the evidence
    assert not a.refused and a.answer.startswith(phrases.NAMED.format(name="Mayor Dana Ortiz") + " ")
    assert {c.source.rsplit("/", 1)[1] for c in a.citations} == {"gazette.txt", "courier.txt"}
    assert all("Dana Ortiz" in c.quote for c in a.citations)
    assert [c["kind"] for c in a.checks] == ["bridge", "claim"] and a.checks[0]["parts"] == 2
    _exact(a)


def test_a_shared_name_the_judge_rejects_falls_back_to_a_judged_draft(answer_with):
    q = SHARED_NAME_QUESTION
    events, llm = answer_with("Mayor Dana Ortiz spoke about the cost [1].", q, judge=lambda p: 0.1)
    a = _answer(events)
    assert llm.calls and a.refused  # the draft was written, and judged too
    assert [c["kind"] for c in a.checks][:2] == ["bridge", "claim"]


def test_no_evidence_refuses_without_calling_the_llm(answer_with):
    events, llm = answer_with("Paris [1].", "What is the tallest mountain in Nepal?")
    a = _answer(events)
    assert a.refused and llm.calls == [] and llm.judged == []


def test_a_question_about_a_name_no_document_mentions_is_refused_without_the_llm(answer_with):
    events, llm = answer_with("Kowalski praised it [1].", "What did Jan Kowalski say about the bridge?")
    a = _answer(events)
    assert a.refused and not llm.calls and not llm.judged
    assert phrases.not_mentioned(["Jan Kowalski"]) in a.answer


def test_every_shown_sentence_is_whole_and_cited(answer_with):
    q = "What did engineers say about the Elm Street bridge?"
    draft = 'Engineers said the bridge "can stay open [1]. " [2]. The bridge can stay open to cars during repairs [2].'
    a = _answer(answer_with(draft, q)[0])
    assert not a.refused
    for piece in a.answer.split("]. "):
        sentence = piece if piece.endswith("].") else piece + "]."
        assert is_sentence(sentence) and cited_numbers(sentence)


def test_prompts_carry_the_shared_refusal_phrase_and_the_untrusted_warning():
    assert phrases.REFUSAL in render("answer") and "untrusted" in render("answer").lower()
    assert "untrusted" in render("judge").lower()


def test_yes_no_detection_and_stream_splitting():
    assert is_yes_no("Has the council approved the fees?") and not is_yes_no("Who leads the council?")
    assert not is_yes_no("Does the report say the fees rose, or does it say they fell?")
    assert is_yes_no("Did the council vote or not?")
    assert is_yes_no("After the March report by the Gazette, did the council vote again?")
    assert not is_yes_no("Which council, reported by the Gazette, has voted again?")
    done, rest = split_sentences("No, it has not been approved. [1] The options rem", final=False)
    assert done == ["No, it has not been approved. [1]"] and rest == "The options rem"


# --------------------------------------------------------------------------- scope (docs=)


def test_a_scoped_answer_reads_and_cites_only_the_chosen_document(answer_with):
    q = "What will happen with the Elm Street bridge?"
    draft = "The council postponed its vote on the bridge until April [1]. The bridge can stay open to cars [2]."
    events, llm = answer_with(draft, q, docs=["courier.txt"])
    a = _answer(events)
    assert not a.refused and a.citations
    assert {c.source.rsplit("/", 1)[1] for c in a.citations} == {"courier.txt"}
    assert {src.rsplit("/", 1)[1] for src, *_ in a.context} == {"courier.txt"}  # what the model read, too
    assert all(p.chunk.source.endswith("courier.txt") for p in events[0].data)
    _exact(a)


def test_a_scoped_yes_no_question_naming_an_outlet_outside_the_scope_is_refused(answer_with):
    q = "Does the Valley Gazette report that the council postponed the bridge vote?"
    events, llm = answer_with("unused", q, docs=["courier.txt"])
    a = _answer(events)
    assert a.refused and not llm.judged and phrases.not_mentioned(["Valley Gazette"]) in a.answer


def test_assistant_ask_with_docs_reports_its_scope(settings, shared_embedder, tmp_path):
    from assistant import Assistant
    from assistant.errors import InputError

    docs_dir = tmp_path / "docs"
    (docs_dir / "more").mkdir(parents=True)
    (docs_dir / "gazette.txt").write_text(GAZETTE, encoding="utf-8")
    (docs_dir / "more" / "courier.txt").write_text(COURIER, encoding="utf-8")
    a = Assistant(settings)
    a.embedder = shared_embedder
    a.ingest(str(docs_dir), progress=False)
    a._llm = llm = ScriptedLLM("The state transport office will pay half of the repair bill [1].")
    answer = a.ask("Who will pay half of the repair bill?", docs=[str(docs_dir / "more")])
    courier = str(docs_dir / "more" / "courier.txt")
    assert answer.scope == [courier] and answer.to_dict()["scope"] == [courier]
    assert answer.citations and {c.source for c in answer.citations} == {courier}
    assert a.ask("Who will pay half of the repair bill?").scope == []  # the whole index
    assert {p.chunk.source for p in a.search("bridge vote in April", 3, docs=courier)} == {courier}
    calls = len(llm.calls)
    with pytest.raises(InputError, match="nowhere.txt"):
        a.ask("Who will pay?", docs=[str(docs_dir / "nowhere.txt")])
    assert len(llm.calls) == calls  # a wrong scope fails before the model is asked


def test_a_citation_has_the_page_and_section_of_its_own_quote():
    """A chunk that starts on page 1 and runs onto page 2: a quote from its page-2 part says 2."""
    from assistant.evidence import Source
    from assistant.schema import Chunk, Passage

    text = "The canal lock opens at dawn.\n\nBoats pay a toll of two coins at the lock gate."
    two = text.index("Boats")
    chunk = Chunk(
        id="c",
        source="/d/canal.pdf",
        title="Canal guide",
        date="2025-01-01",
        doc_hash="h",
        start=500,
        end=500 + len(text),
        text=text,
        page=4,
        section="Locks",
        page_starts=[500 + two],
        section_starts=[(500 + two, "Tolls")],
    )
    p = Passage(chunk=chunk, score=0.8)
    first = Answerer._citation(1, Source(n=1, passage=p, start=500, end=500 + two - 2, text=text[: two - 2], score=1))
    second = Answerer._citation(
        2, Source(n=2, passage=p, start=500 + two, end=500 + len(text), text=text[two:], score=1)
    )
    assert (first.page, first.section) == (4, "Locks")
    assert (second.page, second.section) == (5, "Tolls")
    assert second.to_dict()["page"] == 5 and second.to_dict()["section"] == "Tolls"
    plain = Chunk(id="t", source="/d/a.txt", title="a", date="", doc_hash="h", start=0, end=5, text="Hello")
    c = Answerer._citation(1, Source(n=1, passage=Passage(chunk=plain, score=1), start=0, end=5, text="Hello", score=1))
    assert c.to_dict()["page"] is None and c.section == ""


@pytest.mark.llm
def test_an_answer_from_page_two_of_a_pdf_cites_page_two(tmp_path, shared_embedder):
    """End to end with the real LLM: the fact is only on page 2 of a two-page PDF."""
    from test_documents import make_pdf

    from assistant import Assistant
    from assistant.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "museum.pdf").write_bytes(
        make_pdf(
            [
                [
                    "The Larkspur Museum of Clocks opened a new wing this year. Visitors came from",
                    "many towns to see the collection, and the cafe stayed open late on Fridays.",
                ],
                [
                    "The oldest clock in the Larkspur Museum was built in 1687 by a weaver who",
                    "repaired looms. It still strikes the hour, although it runs four minutes slow.",
                ],
            ],
            title="Larkspur Museum Yearbook",
        )
    )
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    a.ingest(str(docs))
    d = a.ask("When was the oldest clock in the Larkspur Museum built?").to_dict()
    assert not d["refused"] and "1687" in d["answer"], d["answer"]
    assert any(c["page"] == 2 for c in d["citations"]), d["citations"]
    for c in d["citations"]:
        assert Assistant.text_of(c["source"])[c["start"] : c["end"]] == c["quote"]
        if "1687" in c["quote"]:
            assert c["page"] == 2
