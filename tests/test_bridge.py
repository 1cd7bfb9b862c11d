"""bridge.find: the name a multi-part question's evidence shares, on sentences written for it."""

from assistant import bridge
from assistant.evidence import Source
from assistant.schema import Chunk, Passage


def _src(text: str, file: str = "a.txt", start: int = 0) -> Source:
    chunk = Chunk(id=file, source=file, title=file, date="", doc_hash="", start=start, end=start + len(text), text=text)
    return Source(
        n=1, passage=Passage(chunk=chunk, score=1.0), start=start, end=start + len(text), text=text, score=1.0
    )


QUESTION = "Who is the engineer that the Harbour Gazette says rebuilt the lighthouse, and that the Coast Times says won a medal?"


def test_the_name_both_parts_mention_wins_and_each_quote_names_it():
    part1 = [
        _src("Marta Olsen rebuilt the old lighthouse on Kell Point in a single summer.", "gazette.txt"),
        _src("The lighthouse keeper, Ivo Brandt, watched the work.", "gazette.txt", 100),
    ]
    part2 = [_src("On Friday the medal went to Olsen, who thanked her crew.", "times.txt")]
    found = bridge.find(QUESTION, [part1, part2], [s.text for s in part1 + part2])
    assert found is not None
    assert found.name == "Marta Olsen" and found.parts == 2
    assert [s.source for s in found.sources] == ["gazette.txt", "times.txt"]
    assert all("Olsen" in s.text for s in found.sources)


def test_a_quote_with_the_full_name_is_preferred():
    part1 = [
        _src("Olsen rebuilt the old lighthouse on Kell Point.", "gazette.txt"),
        _src("The stairs were rebuilt by Marta Olsen as well.", "gazette.txt", 60),
    ]
    part2 = [_src("On Friday the medal went to Marta Olsen.", "times.txt")]
    found = bridge.find(QUESTION, [part1, part2], [])
    assert found is not None and found.name == "Marta Olsen"
    assert found.sources[0].start == 60  # the quote that writes "Marta Olsen", not only "Olsen"


def test_of_the_quotes_naming_it_the_best_scoring_is_shown():
    weak = _src("Marta Olsen was seen at the harbour.", "gazette.txt")
    weak.score = 0.2
    strong = _src("Marta Olsen rebuilt the old lighthouse on Kell Point.", "gazette.txt", 50)
    strong.score = 0.9
    part2 = [_src("On Friday the medal went to Marta Olsen.", "times.txt")]
    found = bridge.find(QUESTION, [[weak, strong], part2], [])
    assert found is not None and found.sources[0].start == 50


def test_initials_count_for_the_full_name():
    part1 = [_src("Nora Beck Lund designed the bridge, the council said.", "a.txt")]
    part2 = [_src("The ferry terminal was also designed by NBL, and Ivo Brandt built it.", "b.txt")]
    part3 = [_src("Ivo Brandt signed the contract with the city.", "c.txt")]
    q = "Who is the architect that designed the bridge, designed the terminal and is praised by critics?"
    found = bridge.find(q, [part1, part2, part3], [])
    # Nora Beck Lund (as NBL) is in two parts and so is Ivo Brandt, with the same mentions: no clear winner.
    assert found is None
    part3 = [_src("Critics praised NBL for the terminal's roof.", "c.txt")]
    found = bridge.find(q, [part1, part2, part3], [])
    assert found is not None and found.name == "Nora Beck Lund" and found.parts == 3


def test_names_the_question_uses_are_never_the_answer():
    q = "Which company did the Harbour Gazette say bought Kellmark, and the Coast Times say sued Kellmark?"
    part1 = [_src("Kellmark was bought by Osterby Shipping last spring.", "a.txt")]
    part2 = [_src("Osterby Shipping later sued Kellmark over unpaid invoices.", "b.txt")]
    found = bridge.find(q, [part1, part2], [])
    assert found is not None and found.name == "Osterby Shipping"


def test_a_short_name_is_shown_with_the_first_name_the_passages_give():
    part1 = [_src("Lindqvist led the rescue team through the storm.", "a.txt")]
    part2 = [_src("Lindqvist was later given the city's award.", "b.txt")]
    texts = [
        "The team leader, Petra Lindqvist, has served for ten years.",
        "Critics wrote: When Lindqvist spoke, people listened.",
        "Fans said: When Lindqvist calls, we come.",
    ]
    found = bridge.find("Who led the rescue team, and was given the award?", [part1, part2], texts)
    assert found is not None and found.name == "Petra Lindqvist"


def test_who_wants_a_person_not_an_organisation():
    q = "Who founded the venture that the Gazette covered, and was charged by the Times?"
    part1 = [_src("Kell Research was founded by Dana Wu in 2019.", "a.txt")]
    part2 = [_src("Prosecutors charged Kell Research and its founder.", "b.txt")]
    # Kell Research is in both parts, Dana Wu in one: an organisation cannot answer "who".
    assert bridge.find(q, [part1, part2], []) is None


def test_one_part_or_no_shared_name_gives_nothing():
    part = [_src("Marta Olsen rebuilt the lighthouse.")]
    assert bridge.find(QUESTION, [part], []) is None
    other = [_src("The medal went to Ivo Brandt.", "b.txt")]
    assert bridge.find(QUESTION, [part, other], []) is None
    assert bridge.find("Did Marta Olsen rebuild it, and win?", [part, part], []) is None  # not who/which/what
