"""Exact checks and sentence shape, on sentences written for each rule."""

from assistant import phrases
from assistant.verify import check, cited_numbers, grounded, is_refusal, is_sentence, strip_citations

SOURCE = (
    "The harbour authority has not approved the new ferry timetable, said port director "
    "Helga Brandt, who expects four more weeks of talks with the unions."
)
Q = "Has the harbour authority approved the ferry timetable?"


def test_grounded_accepts_an_answer_made_of_the_sources_words():
    assert grounded("Helga Brandt is the port director [1].", SOURCE, "Who is the port director?").ok
    assert grounded("The talks are expected to last four more weeks [1].", SOURCE, "How long will talks last?").ok
    # words about the documents themselves ("the article mentions") are not answer words
    assert grounded(
        "The port director mentioned in the article is Helga Brandt.",
        SOURCE,
        "Who is the port director mentioned in the article?",
    ).ok


def test_grounded_rejects_an_invented_number_or_name():
    r = grounded("The talks will last 6 more weeks [1].", SOURCE, "How long will talks last?")
    assert not r.ok and "6" in r.reason
    r = grounded("Port director Ingrid Olsen expects more talks [1].", SOURCE, "Who expects more talks?")
    assert not r.ok and "olsen" in r.reason


def test_grounded_rejects_an_answer_whose_words_are_not_in_the_source():
    r = grounded(
        "The timetable was rejected by the city council because of its cost [1].",
        SOURCE,
        "Why was the timetable stopped?",
    )
    assert not r.ok and "answer words" in r.reason


def test_number_words_and_digits_match():
    assert grounded("4 more weeks of talks are expected [1].", SOURCE, "How long?").ok


def test_is_sentence_refuses_fragments():
    assert is_sentence('No. The port says: "the timetable is not approved" [1].')
    assert is_sentence("Helga Brandt is the port director [1].")
    for fragment in ('" [1].', "[1].", "the timetable", 'She said "the talks [1].', "...and then [2].", "Brandt."):
        assert not is_sentence(fragment), fragment


def test_the_word_overlap_signal_still_catches_a_flipped_claim():
    # check() no longer gates answers; benchmarks/support.py measures it beside the judge.
    assert not check("Yes, the harbour authority approved the timetable [1].", SOURCE, Q).ok
    assert check("No, the harbour authority has not approved the timetable [1].", SOURCE, Q).ok


def test_citation_helpers():
    assert cited_numbers("a [1] b [2, 3][4].") == [1, 2, 3, 4]
    assert strip_citations("Yes, it was [2].") == "Yes, it was."
    assert is_refusal(phrases.REFUSAL)
    assert is_refusal("The sources do not mention the ferry prices.")
    assert not is_refusal("No, the authority has not approved the timetable [1].")
