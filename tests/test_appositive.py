"""appositive.find: the one name a sentence writes beside the question's description (sentences written for it)."""

import pytest

from assistant import appositive
from assistant.evidence import Source
from assistant.schema import Chunk, Passage


def _src(text: str, file: str = "a.txt") -> Source:
    chunk = Chunk(id=file, source=file, title=file, date="", doc_hash="", start=0, end=len(text), text=text)
    return Source(n=1, passage=Passage(chunk=chunk, score=1.0), start=0, end=len(text), text=text, score=1.0)


def _name(question: str, *texts: str) -> str | None:
    found = appositive.find(question, [_src(t, f"{i}.txt") for i, t in enumerate(texts)])
    return found.name if found else None


def test_a_title_before_the_name_answers_and_a_meta_tail_is_ignored():
    text = "The harbour authority said that Port Director Amelia Okafor signed the order on Monday."
    assert _name("Who is the port director mentioned in the report?", text) == "Amelia Okafor"


def test_an_appositive_after_the_name_answers():
    text = "Tomas Brandt, the chief engineer of the project, said the span would open in May."
    assert _name("Who is the chief engineer of the project?", text) == "Tomas Brandt"


def test_a_title_set_off_by_a_comma_and_a_possessive_root_count():
    text = "Officials said Norway's fisheries minister, Ingrid Vale, rejected the quota."
    assert _name("Who is Norway's fisheries minister?", text) == "Ingrid Vale"


def test_a_relative_clause_is_not_an_appositive():
    # "Dana Whitlock, who met the port director ..." does not make Whitlock the port director.
    text = "Dana Whitlock, who met the port director on Friday, left early."
    assert _name("Who is the port director?", text) is None


def test_two_names_with_the_description_decline():
    first = "Port director Amelia Okafor signed it."
    second = "The port director, Jonas Feld, disagreed."
    assert _name("Who is the port director?", first, second) is None


def test_a_short_form_of_the_same_name_is_one_name():
    first = "Port director Amelia Okafor signed it."
    second = "Later port director Okafor left for the airport."
    assert _name("Who is the port director?", first, second) == "Amelia Okafor"


def test_a_description_word_elsewhere_in_the_sentence_is_not_enough():
    text = "President Alan Moss met Norwegian officials in Oslo."
    assert _name("Who is the Norwegian president?", text) is None


def test_who_wants_a_person_and_a_name_the_question_uses_is_no_answer():
    assert _name("Who is the port operator?", "The port operator, Kell Harbour Company, raised fees.") is None
    assert (
        _name("Who is the director of Kell Harbour?", "Kell Harbour director Amelia Okafor spoke.") == "Amelia Okafor"
    )
    assert _name("Who is the director of Amelia Okafor?", "Director Amelia Okafor spoke.") is None


@pytest.mark.parametrize(
    "question",
    [
        "Has the port director signed the order?",
        "Who signed the order after the storm damaged the pier and the ferry service stopped for a week?",
        "What did the port director say?",
        "Who is the harbour master that Amelia Okafor met?",  # a condition of its own, not a title
        "Who is Amelia Okafor?",  # asks for a description, not a name
    ],
)
def test_other_question_shapes_are_left_to_the_draft(question):
    assert appositive.description(question) is None or _name(question, "Port director Amelia Okafor spoke.") is None
