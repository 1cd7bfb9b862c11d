"""From a question to a verified, cited answer, streamed sentence by sentence.

Steps: retrieve passages -> gate on evidence -> select source sentences -> prompt the LLM ->
as each draft sentence completes, verify it against the sources it cites and emit it only if
it holds -> renumber the surviving citations 1..k in order of appearance.

Design choices:
- The user never sees an unverified sentence: text streams per verified sentence, not per
  token. That costs the time of one sentence (~1 s) of latency for the first words.
- No evidence, no LLM: if the question leans on a name no document mentions ("a BBC report",
  a person the corpus never names), or no passage shares enough with the question (neither by
  dense similarity nor by key-term coverage), we refuse at once, which is both honest and fast;
  the refusal says which name is missing.
- A draft sentence without a valid citation gets the best-supporting source if one passes the
  check, else it is dropped; a citation number outside the sources is never shown. A draft
  that is only a citation ("[2]") becomes a quote of that source.
- If nothing survives, the answer is the refusal phrase plus the closest passages.
- The system prompt is constant, so an embedded llama.cpp keeps its KV cache across questions.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Iterator

from . import phrases
from .evidence import Source, render_sources, select
from .prompts import render
from .retrieve import Retriever, lexical_terms
from .schema import Answer, Citation, Passage
from .text import sentences
from .settings import Settings
from .verify import addresses, check, cited_numbers, content, is_refusal, strip_citations

MIN_DENSE = 0.35  # cosine similarity that counts as evidence by itself
MIN_COVERAGE = 0.5  # or: share of the question's key terms found in one passage
LEADING_CITATIONS = re.compile(r"^(\s*\[[\d,\s]*\]?[.,;]?)*\s*")


@dataclass
class Event:
    """One step of a streamed answer: 'passages' (list[Passage]), 'citation' (Citation, sent when a
    source is first cited, before the text that cites it), 'text' (str), 'answer' (Answer)."""

    kind: str
    data: Any


def coverage(question: str, passage: Passage) -> float:
    q = set(lexical_terms(question))
    if not q:
        return 0.0
    return len(q & set(lexical_terms(passage.chunk.context + " " + passage.chunk.text))) / len(q)


def has_evidence(question: str, passages: list[Passage]) -> bool:
    return any((p.dense or 0) >= MIN_DENSE or coverage(question, p) >= MIN_COVERAGE for p in passages[:5])


_YES_NO = re.compile(r"^(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b", re.I)


def is_yes_no(question: str) -> bool:
    return bool(_YES_NO.match(question.strip()))


def split_sentences(buffer: str, final: bool) -> tuple[list[str], str]:
    """Complete sentences (with their trailing citations) from a growing draft, and the rest.

    The last sentence of a draft still being written is never complete: it may go on.
    """
    spans = sentences(buffer)
    merged: list[str] = []
    start_of_last = end_of_last = 0  # where the last merged sentence (with its markers) lies in buffer
    for sp in spans:
        piece, start = buffer[sp.start : sp.end], sp.start
        lead = LEADING_CITATIONS.match(piece)
        if merged and lead and lead.group().strip():  # "... approved. [2] Next": the marker is the previous one's
            merged[-1] += " " + lead.group().strip()
            piece, start = piece[lead.end() :], sp.start + lead.end()
            end_of_last = start
        if piece.strip():
            merged.append(piece)
            start_of_last, end_of_last = start, sp.end
    if final:
        return merged, ""
    # The last sentence may still be growing, and so may markers that follow it.
    if not merged or not LEADING_CITATIONS.sub("", buffer[end_of_last:]).strip() and len(merged) < 2:
        return [], buffer
    return merged[:-1], buffer[start_of_last:]


class Answerer:
    def __init__(self, retriever: Retriever, llm_factory, settings: Settings):
        self.retriever = retriever
        self._llm_factory = llm_factory
        self.settings = settings

    def stream(self, question: str, retrieval_query: str | None = None) -> Iterator[Event]:
        t0 = time.perf_counter()
        query = retrieval_query or question
        passages = self.retriever.search(query, self.settings.top_k)
        yield Event("passages", passages)
        unknown = self.retriever.unknown_names(query)
        sources = [] if unknown or not has_evidence(query, passages) else \
            select(query, passages, self.retriever.embedder, self.settings.context_sentences)
        timings = {"retrieve_s": round(time.perf_counter() - t0, 3), "first_token_s": None, "total_s": None}
        if not sources:
            note = phrases.not_mentioned(unknown) if unknown else ""
            answer = self._refusal(question, passages, timings, t0, note=note)
            yield Event("text", answer.answer)
            yield Event("answer", answer)
            return

        messages = [
            {"role": "system", "content": render("answer")},
            {"role": "user", "content": render("question", sources=render_sources(sources), question=query,
                                                  hint="\n" + render("yes_no_hint") if is_yes_no(query) else "")},
        ]
        llm = self._llm_factory()
        shown: list[str] = []
        renumber: dict[int, int] = {}
        removed: list[str] = []
        refused_by_model = False
        buffer = ""
        tokens = llm.stream(messages, max_tokens=self.settings.max_answer_tokens, temperature=self.settings.temperature)
        done = False
        while not done:
            try:
                piece = next(tokens)
            except StopIteration:
                piece, done = "", True
            if piece and timings["first_token_s"] is None:
                timings["first_token_s"] = round(time.perf_counter() - t0, 3)
            buffer += piece
            complete, buffer = split_sentences(buffer, final=done)
            for sentence in complete:
                if is_refusal(sentence):
                    refused_by_model = refused_by_model or not shown
                    continue
                cited_before = len(renumber)
                text = self._verified(sentence, sources, query, renumber)
                if text is None:
                    removed.append(sentence)
                    continue
                for old, new in list(renumber.items())[cited_before:]:  # a click on [n] works while streaming
                    yield Event("citation", self._citation(new, sources[old - 1]))
                shown.append(text)
                yield Event("text", (" " if len(shown) > 1 else "") + text)

        if not shown:
            answer = self._refusal(question, passages, timings, t0, removed)
            answer.context = [(x.source, x.start, x.end, x.text) for x in sources]  # what the model was given
            yield Event("text", answer.answer)
            yield Event("answer", answer)
            return
        by_new = {new: old for old, new in renumber.items()}
        citations = [self._citation(new, sources[by_new[new] - 1]) for new in sorted(by_new)]
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        yield Event("answer", Answer(question=question, answer=" ".join(shown), refused=False,
                                     citations=citations, passages=passages, removed_claims=removed,
                                     timings=timings, context=[(x.source, x.start, x.end, x.text) for x in sources]))

    def _verified(self, sentence: str, sources: list[Source], question: str, renumber: dict[int, int]) -> str | None:
        """The sentence with valid, renumbered citations if its claim holds, else None."""
        cited = [n for n in dict.fromkeys(cited_numbers(sentence)) if 1 <= n <= len(sources)]
        claim = strip_citations(sentence)
        if not claim:
            if not cited:
                return None
            # The small model sometimes answers with a bare "[2]": it points at the source that
            # answers. Quote that source; a quote is verified by construction.
            n = cited[0]
            renumber.setdefault(n, len(renumber) + 1)
            return f'The source says: "{" ".join(sources[n - 1].text.split())}" {phrases.cite(renumber[n])}.'

        if is_yes_no(question) and re.match(r"(yes|no)\b", claim, re.I) and not addresses(claim, question):
            return None
        if cited and check(claim, " ".join(sources[n - 1].text for n in cited), question).ok:
            # Keep only the cited sources that share something with the claim.
            keep = [n for n in cited if check(claim, sources[n - 1].text, question).ok] or cited
        else:
            best = [s.n for s in sources if check(claim, s.text, question).ok]
            # A multi-hop claim ("both reported ...") may combine facts from several sources:
            # check it against the cited ones (or all) together, and cite those that share words.
            pool = cited or [s.n for s in sources]
            related = [n for n in pool if content(claim) & content(sources[n - 1].text)]
            if best:
                keep = best[:1]
            elif len(related) > 1 and check(claim, " ".join(sources[n - 1].text for n in related), question).ok:
                keep = related[:3]
            else:
                return None
        for n in keep:
            renumber.setdefault(n, len(renumber) + 1)
        marks = "".join(phrases.cite(renumber[n]) for n in keep)
        end = claim[-1] if claim[-1] in ".!?" else "."
        return f"{claim.rstrip('.!?')} {marks}{end}"

    @staticmethod
    def _citation(n: int, s: Source) -> Citation:
        c = s.passage.chunk
        return Citation(n=n, source=c.source, title=c.title, date=c.date, start=s.start, end=s.end,
                        quote=s.text, score=round(s.passage.score, 4))

    @staticmethod
    def _refusal(question, passages, timings, t0, removed=None, note="") -> Answer:
        lines = [phrases.REFUSAL] + ([note] if note else [])
        if passages:
            lines += ["", phrases.CLOSEST_PASSAGES]
            for p in passages[:3]:
                snippet = " ".join(p.chunk.text.split())
                snippet = snippet[:220] + ("…" if len(snippet) > 220 else "")
                lines.append(f"- {p.chunk.title}: \"{snippet}\"")
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        return Answer(question=question, answer="\n".join(lines), refused=True, citations=[],
                      passages=passages[:3], removed_claims=removed or [], timings=timings)
