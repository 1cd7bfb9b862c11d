"""Question analysis: what a question's words, names, dates and parts are, without any index.

Shared by retrieval (``fusion.plan`` splits a question into rankings), evidence selection
(``evidence.select`` scores sentences per part), the answer pipeline (coverage, refusals),
chat (a rewrite must keep the user's names) and the bridge (names as candidate answers). Every
function here looks at the text alone; what the corpus knows (which outlets and dates exist)
comes in as an argument (``search_clauses``' outlet pattern), so one question analyses the same
way in any index.

- ``lexical_terms``: the stemmed content terms, exactly what the lexical index stores
  (``lexical.index_terms``), so counting a question's terms means what BM25 means by them.
- ``mentioned_dates``: dates written in any of the usual ways, as ISO strings.
- ``capitalized_names``: runs of capitalized words (no named-entity model on two cores).
- ``outlet_aliases``: the ways a question may name an outlet ("Cnbc | World Business News
  Leader" is also asked about as "CNBC").
- ``clauses`` / ``search_clauses``: the question split where it turns from one part to the next
  (commas, "while", "as opposed to", ...), each part with enough content words to be searched.
"""

from __future__ import annotations

import re

from . import lexical
from .text import STOPWORDS

MIN_CLAUSE_TERMS = 3  # content words a clause needs to be searched on its own


def lexical_terms(text: str) -> list[str]:
    """The stemmed content terms of a text: what BM25 indexes and searches, and what question
    analysis counts (clauses, evidence coverage). ``lexical.index_terms``: words minus stop words,
    English-stemmed; runs of CJK characters as overlapping character bigrams, so a Chinese
    question shares terms with a Chinese passage. Text without CJK characters: unchanged terms."""
    return lexical.index_terms(text)


_MONTHS = {
    m: i
    for i, m in enumerate(
        "january february march april may june july august september october november december".split(), 1
    )
}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RX = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE_MDY = re.compile(_MONTH_RX + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_DATE_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RX + r",?\s+(\d{4})", re.I)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# Where a question changes from one part to the next.
_CLAUSE_SPLIT = re.compile(
    r"\s*[;:?]\s+|\s*,\s+(?:and|but|or|while|whereas|yet)\s+|\s*,\s+|"
    r"\s+(?:while|whereas|as opposed to|in contrast to|in contrast with|compared to|compared with|"
    r"as well as|than (?:the|what|how)|the same (?:way|light) as|similar to how|"
    r"and (?=(?:does|do|did|is|was|are|were|has|have|had|also|then|the other|another)\b))\s+",
    re.I,
)


def mentioned_dates(text: str) -> list[str]:
    """ISO dates (YYYY-MM-DD) written in the text, in order, without repeats."""
    found: list[tuple[int, str]] = []
    for m in _DATE_MDY.finditer(text):
        mon = _MONTHS.get(m.group(1).lower().rstrip(".")[: 4 if m.group(1).lower().startswith("sept") else 3])
        if mon:
            found.append((m.start(), f"{int(m.group(3)):04d}-{mon:02d}-{int(m.group(2)):02d}"))
    for m in _DATE_DMY.finditer(text):
        mon = _MONTHS.get(m.group(2).lower().rstrip(".")[:3])
        if mon:
            found.append((m.start(), f"{int(m.group(3)):04d}-{mon:02d}-{int(m.group(1)):02d}"))
    for m in _DATE_ISO.finditer(text):
        found.append((m.start(), f"{m.group(1)}-{m.group(2)}-{m.group(3)}"))
    return list(dict.fromkeys(d for _, d in sorted(found)))


def _protect_dates(text: str) -> str:
    """Dates without their commas, so that clause splitting does not cut them."""
    return _DATE_DMY.sub(
        lambda m: m.group(0).replace(",", ""), _DATE_MDY.sub(lambda m: m.group(0).replace(",", ""), text)
    )


def outlet_aliases(outlet: str) -> set[str]:
    """Ways a question may name an outlet: 'Cnbc | World Business News Leader' -> also 'Cnbc', 'CNBC'."""
    names = {outlet.strip()}
    for sep in (" | ", " - "):
        if sep in outlet:
            names.add(outlet.split(sep)[0].strip())
    out = set()
    for n in names:
        n = n.strip("'\" ")
        if len(n) >= 3 and n.lower() not in STOPWORDS:
            out |= {n, n.upper(), n.title()}
    return out


_TOKEN = re.compile(r"[\w'’.&-]+")
_NAME_JOINERS = {"of", "de", "van", "von", "der", "la", "&"}


def capitalized_names(text: str) -> list[str]:
    """Runs of capitalized words ("Wall Street Journal", "Times of India"), stop words dropped.

    A run ends at punctuation ("Fortune, Globes" are two names) and after a possessive
    ("OpenAI's GPT-3.5" too). The first word of a sentence is capitalized anyway: it starts a
    name only if a capitalized word follows it ("Sam Altman said" yes, "Considering the" no).
    """
    matches = list(_TOKEN.finditer(text))
    toks = [m.group().strip(".'’-") for m in matches]
    runs: list[str] = []
    run: list[str] = []

    def close():
        if run:
            runs.append(" ".join(run))
            run.clear()

    for i, t in enumerate(toks):
        if i and text[matches[i - 1].end() : matches[i].start()].strip():
            close()  # punctuation between the words
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        possessive = re.search(r"['’]s$", t) is not None
        word = re.sub(r"['’]s$", "", t)
        cap = bool(word) and word[0].isupper() and word.lower() not in STOPWORDS
        if cap and i == 0 and not (nxt and nxt[0].isupper()):
            cap = False
        if cap:
            run.append(word)
            if possessive:
                close()
        elif run and t.lower() in _NAME_JOINERS and nxt and nxt[0].isupper():
            run.append(t)
        else:
            close()
    close()
    return list(dict.fromkeys(r for r in runs if any(c.isalpha() for c in r)))


def clauses(question: str) -> list[str]:
    """The question's parts, each with enough content words to be searched alone."""
    parts = [p.strip(" ,.;?!'\"") for p in _CLAUSE_SPLIT.split(_protect_dates(question))]
    out: list[str] = []
    carry = ""
    for p in parts:
        if not p:
            continue
        text = (carry + " " + p).strip() if carry else p
        if len(lexical_terms(text)) < MIN_CLAUSE_TERMS:
            carry = text
            continue
        out.append(text)
        carry = ""
    if carry and out:
        out[-1] = out[-1] + " " + carry
    return out


def search_clauses(question: str, outlet_rx: re.Pattern | None) -> list[str]:
    """``clauses``, where a clause that only names an outlet (matched by ``outlet_rx``, the
    corpus's outlet names) or a date joins its neighbour: "according to TechCrunch" alone is no
    part to search on its own."""
    parts = clauses(question)
    out: list[str] = []
    for p in parts:
        bare = p
        if outlet_rx is not None:
            bare = outlet_rx.sub(" ", bare)
        bare = _DATE_ISO.sub(" ", _DATE_DMY.sub(" ", _DATE_MDY.sub(" ", bare)))
        if out and len(lexical_terms(bare)) < MIN_CLAUSE_TERMS:
            out[-1] = out[-1] + ", " + p
        else:
            out.append(p)
    if len(out) >= 2 and len(lexical_terms(out[0])) < MIN_CLAUSE_TERMS:
        out[1] = out[0] + ", " + out[1]
        out = out[1:]
    return out
