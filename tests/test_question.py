"""Question analysis: terms, names, dates, outlets and clauses, from the text alone (no index)."""

import re

from assistant.question import (
    capitalized_names,
    clauses,
    lexical_terms,
    mentioned_dates,
    outlet_aliases,
    search_clauses,
)


def test_capitalized_names_are_read_as_whole_names():
    q = "Did the Wall Street Journal and Fortune, Globes English report that OpenAI's GPT-3.5 beat the Times of India?"
    assert capitalized_names(q) == [
        "Wall Street Journal",
        "Fortune",
        "Globes English",
        "OpenAI",
        "GPT-3.5",
        "Times of India",
    ]
    assert capitalized_names("Considering the report, who won?") == []  # a capitalized first word alone is no name
    assert capitalized_names("has trump authorized the strikes?") == []


def test_dates_in_any_usual_spelling_become_iso_in_text_order():
    text = "Between 3rd March, 2024 and Sept. 14 2023, or 2022-01-09 and again March 3, 2024"
    assert mentioned_dates(text) == ["2024-03-03", "2023-09-14", "2022-01-09"]
    assert mentioned_dates("no dates here, only 2024") == []


def test_an_outlet_is_also_named_by_its_first_part_in_any_case():
    assert outlet_aliases("Cnbc | World Business News Leader") >= {"Cnbc", "CNBC", "Cnbc | World Business News Leader"}
    assert "The" not in outlet_aliases("The - Weekly")  # a stop word names nothing


def test_clauses_split_where_the_question_turns_and_keep_dates_whole():
    q = (
        "Did the harbour board raise mooring fees on March 4, 2024, while the ferry company "
        "cut ticket prices for islanders?"
    )
    assert clauses(q) == [
        "Did the harbour board raise mooring fees on March 4 2024",
        "the ferry company cut ticket prices for islanders",
    ]
    assert clauses("Why did the sky turn orange tonight?") == ["Why did the sky turn orange tonight"]
    assert clauses("Why is the sky blue?") == []  # two content words: no part to search on its own
    assert all(len(lexical_terms(c)) >= 3 for c in clauses(q))


def test_a_clause_that_only_names_an_outlet_joins_its_neighbour():
    q = "Does the report on rising mooring fees, according to Harbour Coast Weekly, mention the ferry timetable?"
    outlets = re.compile(r"(?<![\w])(Harbour Coast Weekly)(?![\w])")
    assert clauses(q)[1] == "according to Harbour Coast Weekly"  # three content words: a clause by count
    assert search_clauses(q, outlets) == [
        "Does the report on rising mooring fees, according to Harbour Coast Weekly",
        "mention the ferry timetable",
    ]
    assert search_clauses(q, None) == clauses(q)  # a corpus without that outlet: nothing to join
