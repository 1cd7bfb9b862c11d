"""From a question to an answer built from its evidence, streamed sentence by sentence.

Steps: retrieve passages -> gate on evidence -> then one of two paths:

- **Yes/no questions** get a verdict computed from per-part checks, not a drafted one. The
  question is split into its parts (``Retriever.clauses``: "Does A say X, while B says Y?" has
  two); each part gets its own best sentences, from the documents of the outlet or date it
  names when it names one; the judge (``judge.py``) scores each part against its sentences and
  the whole question against all of them. "Yes" when the whole question is stated and no part
  is clearly not; otherwise "No: the documents do not say so." In both cases the deciding
  sentences are quoted and cited (an unstated part's first). Named sources that no document
  matches were refused before this (unknown names). The joining words are fixed phrases;
  every fact shown is a quotation.
- **Who / which / what questions in several parts** ("Which company, reported by A for X and
  by B for Y?") are answered with the name every part's evidence shares (``bridge.py``) when
  one clearly does and the judge does not reject it: the name, then one quote per part that
  names it. No LLM draft, so the answer's one load-bearing word is a span of every quote.
  Otherwise they are drafted like other questions.
- **"Who / what is the DESCRIPTION?"** is answered with the one name a sentence writes beside
  that description ("Venezuelan President Nicolás Maduro", "Tomas Brandt, the chief engineer,";
  ``appositive.py``), the same way: the name, then that quote; the judge only vetoes.
- **Other questions** (who / what / when / how many ..., and "A or B?") are drafted by the
  LLM from the numbered sentences, and each draft sentence is shown only if the judge says the
  sources it cites (plus each question part's best sentence) state it.

Design choices:
- The user never sees an unchecked sentence: text streams per checked sentence, not per token.
- No evidence, no LLM: a question leaning on a name no document mentions, or with no passage
  sharing enough with it, is refused at once, and the refusal says which name is missing.
- A shown answer is whole sentences (``verify.is_sentence``), each with a valid citation, or the
  refusal phrase plus the closest passages; never a fragment.
- A draft sentence without a valid citation is tried against its best-matching sources; a
  citation number outside the sources is never shown. The judge is called at most
  ``MAX_JUDGED`` times per answer: it costs ~1-2 s a call on two cores.
- Every judge call is kept in ``Answer.checks`` (what was checked, P(yes), the sources read).
- Document text is untrusted (``untrusted.py``): a sentence addressed to the model is never a
  source, and every sentence about to be shown passes code checks that hold whatever the model
  wrote (no link its quotes lack, no prompt text). The refusal is always ``phrases.REFUSAL``.
- System prompts are constant, so an embedded llama.cpp keeps their KV cache across questions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from . import appositive, bridge, phrases, untrusted
from .evidence import Source, label, render_sources, select
from .judge import Judge, Judgment
from .prompts import render
from .question import lexical_terms
from .retrieve import Retriever
from .schema import Answer, Citation, Passage
from .settings import Settings
from .text import sentences
from .verify import cited_numbers, content, is_refusal, is_sentence, negated, negated_terms, strip_citations

MIN_DENSE = 0.35  # cosine similarity that counts as evidence by itself
MIN_COVERAGE = 0.5  # or: share of the question's key terms found in one passage
MAX_PARTS = 3  # parts of a yes/no question checked one by one (more parts join the last)
PART_SENTENCES = 3  # sentences the judge reads per part
WHOLE_PER_PART = 2  # of those, the ones the judge reads for the whole question
MAX_JUDGED = 3  # judge calls per open answer
MAX_QUOTES = 4  # quotations the judge reads for one claim
MAX_BRIDGE_PARTS = 5  # parts of a question whose evidence is searched for a shared name
BRIDGE_FLOOR = 0.4  # judge P(yes) under which a name built from evidence is not shown (the LLM drafts instead)
LEADING_CITATIONS = re.compile(r"^(\s*\[[\d,\s]*\]?[.,;]?)*\s*")


#: The kinds of streamed events, and the type of each one's ``data``.
EventKind = Literal["waiting", "passages", "citation", "text", "answer"]
EVENT_DATA = {
    "waiting": "queueing.Status",
    "passages": "list[Passage]",
    "citation": "Citation",
    "text": "str",
    "answer": "Answer",
}


@dataclass
class Event:
    """One step of a streamed answer: 'waiting' (a queue position, from queueing.py), 'passages'
    (list[Passage]), 'citation' (Citation, sent when a source is first cited, before the text that
    cites it), 'text' (str), 'answer' (Answer).

    One small class with a ``kind`` tag (checked by mypy as ``EventKind``) rather than four
    classes: every front end dispatches on the tag, and a new kind is one line here.
    """

    kind: EventKind
    data: Any


def coverage(question: str, passage: Passage) -> float:
    q = set(lexical_terms(question))
    if not q:
        return 0.0
    return len(q & set(lexical_terms(passage.chunk.context + " " + passage.chunk.text))) / len(q)


def has_evidence(question: str, passages: list[Passage]) -> bool:
    return any((p.dense or 0) >= MIN_DENSE or coverage(question, p) >= MIN_COVERAGE for p in passages[:5])


_YES_NO = re.compile(
    r"^(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b", re.I
)


_CHOICE = re.compile(r",?\s+or\s+(does|did|do|is|are|was|were|has|have|had|will|would|can|could)\b", re.I)
_AUX = r"(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b"
_WH = re.compile(r"(^|[,;]\s*)(who|whom|whose|what|which|when|where|why|how)\b", re.I)
_LATE_AUX = re.compile(r"[,;]\s*" + _AUX, re.I)


def is_yes_no(question: str) -> bool:
    """Asked for a yes or a no: the question, or its main clause after an opening phrase ("After
    the May report, did ...?"), starts with an auxiliary verb, and it is not a choice ("A, or B?")."""
    q = question.strip()
    if _CHOICE.search(q) and not re.search(r"\bor not\b", q, re.I):
        return False
    return bool(_YES_NO.match(q)) or (not _WH.search(q) and bool(_LATE_AUX.search(q)))


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
    def __init__(self, retriever: Retriever, llm_factory, settings: Settings, judge_factory=None):
        self.retriever = retriever
        self._llm_factory = llm_factory
        self._judge_factory = judge_factory or (lambda: Judge(llm_factory()))
        self.settings = settings

    def stream(
        self, question: str, retrieval_query: str | None = None, names_from: str | None = None
    ) -> Iterator[Event]:
        """``names_from``: the text whose names must occur in the documents (default: the query);
        a translated question's transliterated names ("Qingshan Bridge") would never match."""
        t0 = time.perf_counter()
        query = retrieval_query or question
        passages = self.retriever.search(query, self.settings.top_k)
        yield Event("passages", passages)
        unknown = self.retriever.unknown_names(names_from or query)
        timings: dict[str, float | None] = {"retrieve_s": None, "first_token_s": None, "total_s": None}
        if unknown or not has_evidence(query, passages):
            timings["retrieve_s"] = round(time.perf_counter() - t0, 3)
            note = phrases.not_mentioned(unknown) if unknown else ""
            answer = self._refusal(question, passages, timings, t0, note=note)
            yield Event("text", answer.answer)
            yield Event("answer", answer)
            return
        run = _Run(question, query, passages, timings, t0)
        steps = self._yes_no(run) if is_yes_no(query) else self._open(run)
        yield from steps
        if not run.shown:
            answer = self._refusal(question, passages, timings, t0, run.removed)
            answer.context, answer.checks = run.context(), run.checks
            yield Event("text", answer.answer)
            yield Event("answer", answer)
            return
        by_new = {new: old for old, new in run.renumber.items()}
        citations = [self._citation(new, run.by_key[by_new[new]]) for new in sorted(by_new)]
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        yield Event(
            "answer",
            Answer(
                question=question,
                answer=" ".join(run.shown),
                refused=False,
                citations=citations,
                passages=passages,
                removed_claims=run.removed,
                timings=timings,
                context=run.context(),
                checks=run.checks,
            ),
        )

    # -- yes/no: a verdict from per-part checks ----------------------------------------------
    def _yes_no(self, run: _Run) -> Iterator[Event]:
        query = run.query
        parts = self.retriever.clauses(query) if len(lexical_terms(query)) >= 6 else []
        if len(parts) > MAX_PARTS:
            parts = parts[: MAX_PARTS - 1] + [", ".join(parts[MAX_PARTS - 1 :])]
        parts = parts if len(parts) >= 2 else [query]
        run.timings["retrieve_s"] = round(time.perf_counter() - run.t0, 3)
        judge = self._judge_factory()
        results: list[tuple[str, list[Source], Judgment]] = []
        read: list[Source] = []  # every part's sentences, for the whole question
        for part in parts:
            sources = self._part_sources(run, part, PART_SENTENCES)
            if not sources:
                continue
            sources = [run.register(s) for s in sources]
            per_part = sources if len(parts) == 1 else sources[:WHOLE_PER_PART]
            read += [s for s in per_part if all(_key(s) != _key(r) for r in read)]
            if len(parts) > 1:
                verdict = judge.part(part, sources)
                run.first_token()
                run.checks.append(verdict.to_dict())
                results.append((part, sources, verdict))
        if not read:
            return
        whole = judge.question(query, read)
        run.first_token()
        run.checks.append(whole.to_dict())
        # Yes needs the whole question stated by the sentences read for all its parts, and no
        # part clearly not stated by its own sources (dev: 0.79 against 0.71 for the whole
        # question alone and 0.75 for all parts alone; see benchmarks/results.md).
        verdict_yes = whole.ok and all(v.p >= judge.part_floor for _, _, v in results)
        unstated = [(part, srcs) for part, srcs, v in results if v.p < judge.part_floor]
        texts, quoted = [], set()
        # A "No" quotes first the sources of the parts they do not state.
        ordered = unstated + [(part, srcs) for part, srcs, v in results if v.p >= judge.part_floor]
        for _part, srcs in ordered or [(query, read)]:
            best = _best(srcs)
            if _key(best) in quoted:
                continue
            quoted.add(_key(best))
            texts.append(self._quote_sentence(run, best))
        if len(parts) == 1 and not verdict_yes:
            texts = texts[:1]
        # The verdict opens the first quoted sentence: "Yes." alone would be a sentence without a source.
        # A "No" whose quote denies what was asked ("have not been authorized") says "No.", not
        # that the documents are silent.
        deciding_part, deciding = (ordered or [(query, read)])[0]
        first = _best(deciding)
        denied = _shares_root(content(deciding_part), negated_terms(first.text)) and not negated(deciding_part)
        opening = phrases.YES if verdict_yes else phrases.NO if denied else phrases.NOT_STATED
        texts[0] = f"{opening} " + texts[0]
        for text in texts:
            yield from run.emit(self, text)

    def _part_sources(self, run: _Run, part: str, n: int) -> list[Source]:
        """A part's best n sentences, from the documents of the outlet or date it names if any."""
        named = self.retriever.sources_named(part)
        pool = [p for p in run.passages if named is None or p.chunk.source in named] or run.passages
        return select(part, pool, self.retriever.embedder, n)

    def _quote_sentence(self, run: _Run, s: Source) -> str:
        """One source sentence quoted and cited."""
        n = run.cite(s)
        quote = _plain_quotes(" ".join(s.text.split())).rstrip()
        return f'{label(s.passage.chunk)} {phrases.SAYS} "{quote}" {phrases.cite(n)}.'

    # -- open questions: a drafted answer, each sentence grounded and judged -----------------
    def _open(self, run: _Run) -> Iterator[Event]:
        query = run.query
        sources = [
            run.register(s)
            for s in select(query, run.passages, self.retriever.embedder, self.settings.context_sentences)
        ]
        run.timings["retrieve_s"] = round(time.perf_counter() - run.t0, 3)
        if not sources:
            return
        described = appositive.find(query, sources)
        if described is not None:
            run.checks.append(described.to_dict())
            if (yield from self._named(run, described.name, [run.register(described.source)])):
                return
        # A question in several parts ("Which company, reported by A for X and by B for Y, ...?")
        # is answered by several sources: the judge reads each part's best sentence too.
        extra: list[Source] = []
        parts = self.retriever.clauses(query) if len(lexical_terms(query)) >= 6 else []
        if len(parts) >= 2 and bridge.asks_for_one_name(query) and not _CHOICE.search(query):
            found = yield from self._bridged(run, parts)
            if found:
                return
        for part in parts[:MAX_PARTS] if len(parts) >= 2 else []:
            extra += [run.register(s) for s in self._part_sources(run, part, 1)]
        messages = [
            {"role": "system", "content": render("answer")},
            {"role": "user", "content": render("question", sources=render_sources(sources), question=query)},
        ]
        llm = self._llm_factory()
        judge = self._judge_factory()
        buffer = ""
        tokens = llm.stream(messages, max_tokens=self.settings.max_answer_tokens, temperature=self.settings.temperature)
        done = False
        while not done:
            try:
                piece = next(tokens)
            except StopIteration:
                piece, done = "", True
            if piece:
                run.first_token()
            buffer += piece
            complete, buffer = split_sentences(buffer, final=done)
            for sentence in complete:
                if is_refusal(sentence):
                    continue
                text = self._checked(run, sentence, sources, judge, extra)
                if text is None:
                    run.removed.append(sentence)
                    continue
                yield from run.emit(self, text)

    def _bridged(self, run: _Run, parts: list[str]) -> Generator[Event, None, bool]:
        """Answer with the name every part's evidence shares (bridge.py), if one clearly does and
        the judge agrees that the quotes naming it answer the question. Returns whether it did."""
        per_part = [self._part_sources(run, part, PART_SENTENCES) for part in parts[:MAX_BRIDGE_PARTS]]
        found = bridge.find(run.query, per_part, [p.chunk.text for p in run.passages])
        if found is None:
            return False
        run.checks.append(found.to_dict())
        return (yield from self._named(run, found.name, [run.register(s) for s in found.sources]))

    def _named(self, run: _Run, name: str, quotes: list[Source]) -> Generator[Event, None, bool]:
        """Show "Name:" and the quotes that name it, unless the judge rejects the name as the answer.

        The name is a span of every quote by construction (bridge.py, appositive.py); the judge
        only vetoes (``BRIDGE_FLOOR``), so a name whose quotes plainly do not answer is not shown."""
        verdict = self._judge_factory().claim(run.query, f"The answer is {name}.", quotes)
        run.first_token()
        run.checks.append(verdict.to_dict())
        if verdict.p < BRIDGE_FLOOR:
            return False
        for i, s in enumerate(quotes):
            text = self._quote_sentence(run, s)
            if i == 0:
                text = phrases.NAMED.format(name=name) + " " + text
            yield from run.emit(self, text)
        return True

    def _checked(
        self, run: _Run, sentence: str, sources: list[Source], judge: Judge, extra: Sequence[Source] = ()
    ) -> str | None:
        """The sentence with renumbered citations if it is grounded in and stated by its sources."""
        cited = [n for n in dict.fromkeys(cited_numbers(sentence)) if 1 <= n <= len(sources)]
        claim = strip_citations(sentence)
        if not claim and cited:
            # The small model sometimes answers with a bare "[2]": it points at the source that
            # answers. That source's sentence is the claim, and the judge decides if it answers.
            claim = " ".join(sources[cited[0] - 1].text.split())
            cited = cited[:1]
        candidates: list[list[int]] = []
        if cited:
            candidates.append(cited)
        # Sources by shared words with the claim: where an uncited or mis-cited claim may come from.
        overlap = sorted(sources, key=lambda s: -len(content(claim) & content(s.text)))
        for s in overlap[:2]:
            if [s.n] not in candidates and content(claim) & content(s.text):
                candidates.append([s.n])
        for group in candidates[:2]:
            if len(run.checks) >= MAX_JUDGED:
                break
            if not is_sentence(claim + " [1]."):
                break
            read = [sources[n - 1] for n in group]
            keys = {(s.source, s.start) for s in read}
            for s in extra:
                if (
                    len(read) < MAX_QUOTES
                    and (s.source, s.start) not in keys
                    and not any(s.source == r.source and s.start < r.end and r.start < s.end for r in read)
                ):
                    read.append(s)
                    keys.add((s.source, s.start))
            verdict = judge.claim(run.query, claim, read)
            run.checks.append(verdict.to_dict())
            if verdict.ok:
                marks = "".join(phrases.cite(run.cite(s)) for s in read)
                body = claim.rstrip()
                end = body[-1] if body[-1] in ".!?" else "."
                body = body.rstrip(".!?")
                if body.count('"') % 2:  # a quote the draft opened and never closed
                    body += '"'
                return f"{body} {marks}{end}"
        return None

    @staticmethod
    def _citation(n: int, s: Source, score: float | None = None) -> Citation:
        """The one way a quoted sentence becomes a Citation (summaries use it too)."""
        c = s.passage.chunk
        return Citation(
            n=n,
            source=c.source,
            title=c.title,
            date=c.date,
            start=s.start,
            end=s.end,
            quote=s.text,
            score=round(s.passage.score if score is None else score, 4),
            page=c.page_at(s.start),
            section=c.section_at(s.start),
        )  # the quote's own page

    @staticmethod
    def _refusal(question, passages, timings, t0, removed=None, note="") -> Answer:
        lines = [phrases.REFUSAL] + ([note] if note else [])
        if passages:
            lines += ["", phrases.CLOSEST_PASSAGES]
            for p in passages[:3]:
                snippet = " ".join(p.chunk.text.split())
                snippet = snippet[:220] + ("…" if len(snippet) > 220 else "")
                lines.append(f'- {p.chunk.title}: "{snippet}"')
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        return Answer(
            question=question,
            answer="\n".join(lines),
            refused=True,
            citations=[],
            passages=passages[:3],
            removed_claims=removed or [],
            timings=timings,
        )


def _plain_quotes(text: str) -> str:
    """Double quotes inside a quoted sentence become single ones, so the outer quotes pair up."""
    return re.sub(r'["“”]', "'", text)


def _shares_root(a: set[str], b: set[str]) -> bool:
    """Do two sets of word roots share one, or one root that begins another ("approv", "approval")?"""
    return bool(a & b) or any(
        len(x) >= 5 and len(y) >= 5 and (x.startswith(y) or y.startswith(x)) for x in a for y in b
    )


def _key(s: Source) -> tuple:
    return (s.source, s.start, s.end)


def _best(sources: list[Source]) -> Source:
    return max(sources, key=lambda s: s.score)


class _Run:
    """The state of one answer while it streams: sources read, citations given, text shown."""

    def __init__(self, question, query, passages, timings, t0):
        self.question, self.query, self.passages, self.timings, self.t0 = question, query, passages, timings, t0
        self.shown: list[str] = []
        self.removed: list[str] = []
        self.checks: list[dict] = []
        self.renumber: dict[tuple, int] = {}  # (source, start, end) -> shown citation number
        self.by_key: dict[tuple, Source] = {}
        self._emitted: set[tuple] = set()

    def register(self, s: Source) -> Source:
        self.by_key.setdefault(_key(s), s)
        return s

    def cite(self, s: Source) -> int:
        key = _key(s)
        self.by_key.setdefault(key, s)
        return self.renumber.setdefault(key, len(self.renumber) + 1)

    def first_token(self) -> None:
        if self.timings["first_token_s"] is None:
            self.timings["first_token_s"] = round(time.perf_counter() - self.t0, 3)

    def context(self) -> list[tuple[str, int, int, str]]:
        return [(s.source, s.start, s.end, s.text) for s in self.by_key.values()]

    def emit(self, answerer: Answerer, text: str) -> Iterator[Event]:
        """Show one sentence: its new citations first (a click on [n] works while streaming)."""
        numbers = cited_numbers(text)
        if not is_sentence(text) or not numbers or any(n > len(self.renumber) for n in numbers):
            self.removed.append(text)
            return
        by_new = {new: key for key, new in self.renumber.items()}
        # Whatever the model wrote: no link its quotes lack, no prompt text (untrusted.py, layer 4).
        cited = [self.by_key[by_new[n]] for n in dict.fromkeys(numbers) if n in by_new]
        if untrusted.unsafe(text, [f"{s.text} {s.passage.chunk.context} {s.passage.chunk.title}" for s in cited]):
            self.removed.append(text)
            return
        for n in dict.fromkeys(numbers):
            key = by_new[n]
            if key not in self._emitted:
                self._emitted.add(key)
                yield Event("citation", answerer._citation(n, self.by_key[key]))
        self.shown.append(text)
        yield Event("text", (" " if len(self.shown) > 1 else "") + text)
