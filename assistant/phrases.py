"""Phrases the code relies on, shared by prompts, code and tests.

The prompt templates in ``prompts/`` refer to these through ``{refusal}``-style
placeholders, so a wording change happens here once and the model, the answer
checker and the tests all follow it.
"""
import re

#: What the assistant says when the documents do not contain the answer.
REFUSAL = "I could not find the answer in the documents."

#: How an answer cites source number n.
CITATION_FORMAT = "[{n}]"

#: Matches one or more citation markers such as "[2]" or "[1, 3]" or "[1][3]".
CITATION_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")

#: Said after the refusal when the question names something no document mentions.
NOT_MENTIONED = "The documents never mention {names}."

#: How a "No" verdict opens: the sources read for the question do not state what it asks.
NOT_STATED = "No: the documents do not say so."

#: Heading shown above the closest passages when the assistant refuses.
CLOSEST_PASSAGES = "Closest passages:"


def cite(n: int) -> str:
    return CITATION_FORMAT.format(n=n)


def not_mentioned(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return NOT_MENTIONED.format(names=joined)
