"""Conversation memory and follow-up rewriting.

Retrieval only sees one string, so a follow-up like "Has he approved them?" must become a
standalone question ("Has Trump approved the strikes?") before it is searched. The LLM does
the rewrite from the last few turns (short: citations and closest passages stripped), and we
fall back to the original wording if the rewrite comes back empty, huge or as a refusal. A
rewrite that drops a name or a key word the user wrote is replaced by the user's question plus the previous
question it follows: clumsy, but it asks what the user asked.
History is a plain list of (question, answer) pairs owned by the caller, so each browser
session, terminal or script keeps its own conversation and nothing is shared.
"""

from __future__ import annotations

import re

from .phrases import CLOSEST_PASSAGES, REFUSAL
from .prompts import render
from .question import capitalized_names, lexical_terms
from .verify import strip_citations

MAX_TURNS = 3


def _brief(answer: str) -> str:
    answer = answer.split(CLOSEST_PASSAGES)[0]
    return " ".join(strip_citations(answer).split())[:400]


def _words(text: str) -> set[str]:
    return {re.sub(r"['’]s$", "", w) for w in re.findall(r"[\w'’]+", text.lower()) if len(w) > 1}


def format_history(history: list[tuple[str, str]]) -> str:
    lines = []
    for q, a in history[-MAX_TURNS:]:
        lines.append(f"User: {' '.join(q.split())[:300]}")
        lines.append(f"Assistant: {_brief(a) or REFUSAL}")
    return "\n".join(lines)


def standalone_question(llm, history: list[tuple[str, str]], question: str) -> str:
    if not history:
        return question
    messages = [
        {"role": "system", "content": render("condense")},
        {"role": "user", "content": render("condense_input", history=format_history(history), question=question)},
    ]
    rewritten = " ".join(llm.complete(messages, max_tokens=60, temperature=0.0).split())
    rewritten = rewritten.removeprefix("Standalone question:").strip().strip('"')
    if not rewritten or len(rewritten) > 4 * len(question) + 200 or REFUSAL.lower() in rewritten.lower():
        return question
    # A rewrite that loses a name or a key word the user wrote ("Has the president approved them?"
    # -> "Has the military approved ...?") asks another question. Keep the user's words and add
    # what they follow.
    said = _words(" ".join(capitalized_names(question)))
    if not said <= _words(rewritten) or not set(lexical_terms(question)) <= set(lexical_terms(rewritten)):
        return f"{question} (following: {' '.join(history[-1][0].split())[:300]})"
    return rewritten
