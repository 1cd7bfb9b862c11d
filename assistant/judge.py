"""Does a quotation support a statement? The local LLM as a judge.

Why a judge: a word-overlap rule cannot tell a paraphrase that says the same thing from a
sentence that reuses the source's words to say something else ("the bridge opens in May" vs
"the bridge closed in May"). A language model reads meaning; asked a constrained yes/no
question over *just* the statement and the few quotations it cites, even the packaged 1.5B
model separates the two far better than shared words do (benchmarks/support.md measures each
signal on labelled claim/quote pairs).

Design:
- One call, one token: the reply is read as P("Yes") / (P("Yes") + P("No")) from the first
  token's log-probabilities (``LLM.yes_probability``), so the cut-off is a number we can tune
  and measure, not whatever word the model happens to print. A backend without log-probabilities
  gives 1.0 / 0.0.
- The prompt holds only the quotations and the statement (~100-200 tokens, ~2 s on two CPU
  cores); its system part is constant, so llama.cpp reuses its KV cache from call to call.
- No exact checks in front: on the labelled pairs, requiring the claim's numbers and names to
  appear verbatim (``verify.grounded``) rejected paraphrased figures ("four hundred" for 400)
  and lowered accuracy (0.71-0.74 against 0.76 for the judge alone), so it is measured, not used.
- The quotations are untrusted document text; the prompt says so, and the judge only ever
  answers one token, so instructions inside a quotation cannot make it write anything.

Three questions are asked of the judge: ``claim`` (is this answer to this question stated by
the quotations?) for open questions, ``part`` (do the quotations say what this part of a
yes/no question asks?) and ``question`` (the whole yes/no question over every part's
sentences); see ``answer.py`` for how the verdict combines them.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import untrusted
from .evidence import Source, label
from .prompts import render

#: A claim is shown when the judge's P(yes) reaches this (tuned on benchmarks/support_pairs.jsonl
#: and the dev questions; see benchmarks/support.md).
CLAIM_THRESHOLD = 0.5
#: A part of a yes/no question counts as stated by its sources from this P(yes) on.
PART_THRESHOLD = 0.5
#: A yes/no question is answered Yes from this P(yes) on (the whole question over every part's
#: sentences), provided no part falls under ``PART_FLOOR`` (tuned on the dev questions).
QUESTION_THRESHOLD = 0.6
PART_FLOOR = 0.4


@dataclass
class Judgment:
    """One judge call, kept on the Answer so a user (and the eval) can see why."""

    kind: str  # "claim", "part" or "question"
    text: str  # the claim or the question part
    p: float  # P(yes)
    ok: bool
    sources: list[dict]  # what the judge read: {"source", "start", "end"}

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "p": round(self.p, 3), "ok": self.ok, "sources": self.sources}


def quotes(sources: list[Source]) -> str:
    """The quotations as the judge reads them: where each is from, then its words."""
    lines = []
    for s in sources:
        where = label(s.passage.chunk)
        lines.append(f'- {where}: "{untrusted.for_model(" ".join(s.text.split()))}"')
    return "\n".join(lines)


def _read(sources: list[Source]) -> list[dict]:
    return [{"source": s.source, "start": s.start, "end": s.end} for s in sources]


class Judge:
    def __init__(
        self,
        llm,
        claim_threshold: float = CLAIM_THRESHOLD,
        part_threshold: float = PART_THRESHOLD,
        question_threshold: float = QUESTION_THRESHOLD,
        part_floor: float = PART_FLOOR,
    ):
        self.llm = llm
        self.claim_threshold, self.part_threshold = claim_threshold, part_threshold
        self.question_threshold, self.part_floor = question_threshold, part_floor

    def _ask(self, user: str) -> float:
        return float(
            self.llm.yes_probability(
                [
                    {"role": "system", "content": render("judge")},
                    {"role": "user", "content": user},
                ]
            )
        )

    def claim(self, question: str, claim: str, sources: list[Source]) -> Judgment:
        p = self._ask(render("judge_claim", quotes=quotes(sources), question=question, claim=claim))
        return Judgment("claim", claim, p, p >= self.claim_threshold, _read(sources))

    def part(self, part: str, sources: list[Source]) -> Judgment:
        p = self._ask(render("judge_part", quotes=quotes(sources), part=part))
        return Judgment("part", part, p, p >= self.part_threshold, _read(sources))

    def question(self, question: str, sources: list[Source]) -> Judgment:
        """A whole yes/no question over the sentences read for all its parts."""
        p = self._ask(render("judge_part", quotes=quotes(sources), part=question))
        return Judgment("question", question, p, p >= self.question_threshold, _read(sources))
