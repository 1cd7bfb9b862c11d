"""Exact checks of a draft sentence against the sources it cites, and the shape of a shown sentence.

Meaning is judged by ``judge.py`` (the LLM over the claim and its quotations). What stays here
is what exact text comparison does better than a small model:

- ``grounded``: every number in the claim appears in its sources (digits and number words are
  normalized), every name (a capitalized word not at the sentence start) appears in them or in
  the question, and the words the claim adds to the question (its answer) are mostly in the
  sources, compared on crude roots ('won'/'winning'). So the load-bearing words of an answer are
  words of the evidence, and an invented figure or name fails without asking the model.
- ``is_sentence``: a shown answer is whole sentences: words, balanced quotes, an end mark.
- ``check``: the word-overlap verifier used before the judge (names, numbers, half the key words,
  negation agreement). It no longer gates answers; benchmarks/support.py keeps measuring it as
  one signal beside the judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .phrases import CITATION_RE
from .text import STOPWORDS, stem, words

_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "thirty": "30",
    "hundred": "100",
    "thousand": "1000",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
}
_NEGATIONS = {
    "not",
    "no",
    "never",
    "none",
    "nor",
    "neither",
    "without",
    "cannot",
    "hasn",
    "hasnt",
    "isn",
    "wasn",
    "didn",
    "doesn",
    "aren",
    "weren",
    "haven",
    "hadn",
    "couldn",
    "wouldn",
    "shouldn",
    "denies",
    "denied",
    "refused",
    "unable",
    "failed",
}
_OPENERS = {
    "yes",
    "no",
    "according",
    "the",
    "a",
    "an",
    "in",
    "on",
    "both",
    "however",
    "based",
    # words about the sources themselves, capitalized when they open a sentence
    "source",
    "sources",
    "article",
    "articles",
    "report",
    "reports",
    "neither",
    "while",
    "this",
    "these",
}
# Irregular forms the suffix stemmer cannot join to their root ("won" and "winning" are "win").
_IRREGULAR = {
    "won": "win",
    "wrote": "write",
    "written": "write",
    "told": "tell",
    "began": "begin",
    "begun": "begin",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "made": "make",
    "held": "hold",
    "led": "lead",
    "left": "leave",
    "lost": "lose",
    "paid": "pay",
    "sold": "sell",
    "bought": "buy",
    "brought": "bring",
    "came": "come",
    "became": "become",
    "found": "find",
    "went": "go",
    "gone": "go",
    "ran": "run",
    "saw": "see",
    "seen": "see",
    "spent": "spend",
    "stole": "steal",
    "stolen": "steal",
    "struck": "strike",
    "fell": "fall",
    "fallen": "fall",
    "grew": "grow",
    "grown": "grow",
    "knew": "know",
    "known": "know",
    "rose": "rise",
    "risen": "rise",
    "chose": "choose",
    "chosen": "choose",
    "drove": "drive",
    "driven": "drive",
    "broke": "break",
    "broken": "break",
    "met": "meet",
    "kept": "keep",
    "sent": "send",
    "built": "build",
    "felt": "feel",
    "thought": "think",
    "caught": "catch",
    "taught": "teach",
    "fought": "fight",
    "sought": "seek",
    "beaten": "beat",
    "shot": "shoot",
    "threw": "throw",
    "thrown": "throw",
    "spoke": "speak",
    "spoken": "speak",
    "meant": "mean",
    "stood": "stand",
    "understood": "understand",
    "hid": "hide",
    "hidden": "hide",
    "forgot": "forget",
    "forgotten": "forget",
    "ate": "eat",
    "eaten": "eat",
    "better": "good",
    "best": "good",
}
_NAME = re.compile(r"[A-Za-z]\w*(?:[.'’-]\w+)*")
_REFUSAL_HINTS = re.compile(
    r"(do(es)? not (contain|provide|mention|say|specify|include|state)|not (mentioned|specified|provided|stated|"
    r"available|found)|no (information|mention)|cannot (answer|determine|be determined)|unable to (answer|determine)|"
    r"could not find|insufficient information|there is no)",
    re.I,
)


@dataclass
class Check:
    ok: bool
    reason: str = ""


def strip_citations(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", CITATION_RE.sub("", text)).strip()


def cited_numbers(text: str) -> list[int]:
    return [int(n) for m in CITATION_RE.finditer(text) for n in re.split(r"\s*,\s*", m.group(1))]


def numbers(text: str) -> set[str]:
    out = set()
    for w in words(text):
        w = w.replace(",", "")
        if w in _NUMBER_WORDS:
            out.add(_NUMBER_WORDS[w])
        elif re.fullmatch(r"\d+(\.\d+)?(st|nd|rd|th)?", w):
            out.add(w.lstrip("0") or "0")
    return out


def _numbers_of(text: str) -> set[str]:
    # Sources write "4.3 billion" or "$4.3b" or "1,500": compare on the digits.
    return numbers(text) | {m.replace(",", "") for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def names(text: str) -> set[str]:
    toks = _NAME.findall(text)
    out = set()
    for i, t in enumerate(toks):
        if (
            t[0].isupper()
            and t.lower() not in STOPWORDS
            and t.lower() not in _OPENERS
            and not (i == 0 and t.lower() in _NUMBER_WORDS)
        ):
            if i == 0 and t.lower() in STOPWORDS:
                continue
            out.add(_plain(t.lower()))
    return out


def _name_found(name: str, known: set[str]) -> bool:
    """A hyphenated name ('USB-C-to-USB-C') is found when each of its parts is."""
    if name in known:
        return True
    parts = [p for p in name.split("-") if p and p not in STOPWORDS]
    return len(parts) > 1 and all(p in known for p in parts)


def _plain(word: str) -> str:
    """'U.S.' and 'US', "Trump's" and 'Trump' are the same name."""
    return word.replace("’", "'").removesuffix("'s").replace(".", "")


def root(word: str) -> str:
    """A word's crude root, joining the forms a paraphrase changes: 'released'/'release',
    'companies'/'company', 'winning'/'won'/'win'."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    r = stem(word)
    if r.endswith("i") and len(r) > 3:
        r = r[:-1] + "y"
    if len(r) > 4 and r.endswith("e"):
        r = r[:-1]
    if len(r) > 3 and r[-1] == r[-2] and r[-1] not in "lsz":
        r = r[:-1]
    return r


def content(text: str) -> set[str]:
    return {
        root(w) for w in words(text) if w not in STOPWORDS and w not in _NUMBER_WORDS and not w.isdigit() and len(w) > 2
    }


def negated(text: str) -> bool:
    ws = [w.replace("’", "'") for w in words(text)]
    return any(w in _NEGATIONS or w.endswith("n't") for w in ws)


def negated_terms(text: str, window: int = 4) -> set[str]:
    """Content terms within a few words after a negation: what the text denies."""
    ws = [w.replace("’", "'") for w in words(text)]
    out: set[str] = set()
    for i, w in enumerate(ws):
        if w in _NEGATIONS or w.endswith("n't"):
            out |= content(" ".join(ws[i + 1 : i + 1 + window]))
    return out


def is_refusal(sentence: str) -> bool:
    from .phrases import REFUSAL

    s = strip_citations(sentence)
    return REFUSAL.lower().rstrip(".") in s.lower() or bool(_REFUSAL_HINTS.search(s))


def check(claim: str, support: str, question: str = "") -> Check:
    """Is `claim` (citations stripped) backed by `support` (the text of the sources it cites)?"""
    claim = strip_citations(claim)
    body = re.sub(r"^(yes|no)\b[,.!]?\s*", "", claim, flags=re.I)
    missing_nums = numbers(body) - _numbers_of(support) - numbers(question)
    if missing_nums:
        return Check(False, f"number(s) not in the source: {', '.join(sorted(missing_nums))}")
    support_words = {_plain(w) for w in words(support)}
    q_words = {_plain(w) for w in words(question)}
    known = support_words | q_words
    missing_names = {n for n in names(body) if not _name_found(n, known)}
    if missing_names:
        return Check(False, f"name(s) not in the source: {', '.join(sorted(missing_names))}")
    terms = content(body) - {root(n) for n in names(body)}  # names were checked above
    if terms:
        # Words the question states count: an answer restates its question ("X is the company
        # that ..."). This lets an unsupported restatement through when one key word of the
        # source backs it; the names and numbers rules above still hold.
        found = terms & (content(support) | content(question))
        if len(found) < 0.5 * len(terms):
            return Check(False, f"only {len(found)} of {len(terms)} key words are in the source")
        if not terms & content(support):
            return Check(False, "the source shares no key word with the claim")
    elif not body.strip():
        return Check(False, "empty claim")
    says_no = bool(re.match(r"no\b", claim, re.I))
    src_negated = negated_terms(support)
    if not (negated(body) or says_no):
        flipped = content(body) & src_negated
        if flipped:
            return Check(False, f"the source denies what the claim asserts ({', '.join(sorted(flipped))})")
    else:
        # What the claim denies must be what the source denies, not merely share a "not" with it:
        # "No, the article does not suggest X" needs a source that denies X.
        denied = negated_terms(body) if negated(body) else content(body)
        if not denied & src_negated:
            return Check(False, "the claim denies something the source does not deny")
    return Check(True)


# Words an answer uses about the documents rather than from them ("the article mentions ...").
_META = {
    "source",
    "sources",
    "article",
    "articles",
    "document",
    "documents",
    "text",
    "mention",
    "mentioned",
    "state",
    "stated",
    "states",
    "report",
    "reported",
    "reports",
    "say",
    "says",
    "said",
    "provided",
    "quotation",
    "quote",
    "passage",
    "accord",
    "according",
    "answer",
    "question",
    "information",
}
_META_ROOTS = {root(w) for w in _META}


def grounded(claim: str, support: str, question: str = "") -> Check:
    """Are the claim's numbers, names and answer words in ``support`` (its cited sources' text)?"""
    claim = strip_citations(claim)
    body = re.sub(r"^(yes|no)\b[,.!:]?\s*", "", claim, flags=re.I)
    if len(re.findall(r"[^\W\d_]{2,}", body)) < 2:
        return Check(False, "not a sentence")
    missing_nums = numbers(body) - _numbers_of(support) - numbers(question)
    if missing_nums:
        return Check(False, f"number(s) not in the source: {', '.join(sorted(missing_nums))}")
    known = {_plain(w) for w in words(support)} | {_plain(w) for w in words(question)}
    missing_names = {n for n in names(body) if not _name_found(n, known)}
    if missing_names:
        return Check(False, f"name(s) not in the source: {', '.join(sorted(missing_names))}")
    added = content(body) - content(question) - _META_ROOTS - {root(n) for n in names(body)}
    found = added & content(support)
    if added and len(found) < 0.5 * len(added):
        return Check(False, f"only {len(found)} of {len(added)} answer words are in the source")
    return Check(True)


_WORDY = re.compile(r"[^\W\d_]{2,}")


def is_sentence(text: str) -> bool:
    """Can this be shown as a sentence of an answer? Two or more words, quotes balanced, an end mark
    (citation markers aside). A draft cut mid-quote ('" [1].') fails."""
    body = strip_citations(text)
    if len(_WORDY.findall(body)) < 2 or not re.search(r"[.!?…][\"'”’)]*$", body):
        return False
    straight = body.count('"') % 2 == 0
    curly = body.count("“") == body.count("”")
    return straight and curly and not re.match(r"^[\W_]", body.lstrip("'\"“‘(")[:1] or "")
