"""The support judge: prompt shape with a recording LLM, and the real 1.5B model on sentences
written for these tests (clear cases; benchmarks/support.py measures the hard ones)."""

import pytest

from assistant.evidence import Source
from assistant.judge import CLAIM_THRESHOLD, PART_THRESHOLD, Judge
from assistant.schema import Chunk, Passage

QUOTE = "The harbour authority has not approved the new ferry timetable, port director Helga Brandt said on Monday."


def source(text=QUOTE, context="Title: Ferry timetable stalls | Source: Coast Herald | Date: 2026-05-04"):
    chunk = Chunk(
        id="c",
        source="/docs/herald.txt",
        title="Ferry timetable stalls",
        date="2026-05-04",
        doc_hash="h",
        start=0,
        end=len(text),
        text=text,
        context=context,
        outlet="Coast Herald",
        titled=True,
        dated=True,
    )
    return Source(n=1, passage=Passage(chunk=chunk, score=1.0), start=0, end=len(text), text=text, score=1.0)


class RecordingLLM:
    def __init__(self, p):
        self.p, self.messages = p, []

    def yes_probability(self, messages):
        self.messages.append(messages)
        return self.p


def test_the_judge_reads_only_the_quotes_the_claim_and_the_question():
    llm = RecordingLLM(0.8)
    v = Judge(llm).claim("Who is the port director?", "Helga Brandt is the port director.", [source()])
    system, user = (m["content"] for m in llm.messages[0])
    assert "untrusted" in system.lower()
    assert "Coast Herald" in user and QUOTE in user and "Helga Brandt is the port director." in user
    assert v.ok and v.p == 0.8 and v.sources == [{"source": "/docs/herald.txt", "start": 0, "end": len(QUOTE)}]
    assert not Judge(RecordingLLM(CLAIM_THRESHOLD - 0.01)).claim("q", "c", [source()]).ok
    assert Judge(RecordingLLM(PART_THRESHOLD)).part("Has the timetable been approved?", [source()]).ok


@pytest.mark.llm
def test_the_real_judge_separates_a_paraphrase_from_a_contradiction(seed_assistant):
    judge = Judge(seed_assistant.llm)
    q = "Has the ferry timetable been approved?"
    assert not judge.question(q, [source()]).ok  # a yes/no question is answered Yes from P >= 0.6
    assert (
        judge.question("Has the harbour authority withheld its approval of the timetable?", [source()]).p
        > judge.question(q, [source()]).p
    )
    said = judge.claim(
        "What did Helga Brandt say?",
        "She said the harbour authority has not approved the new ferry timetable.",
        [source()],
    )
    flipped = judge.claim("What did the authority decide?", "The authority approved the new timetable.", [source()])
    assert said.ok and not flipped.ok, (said, flipped)
