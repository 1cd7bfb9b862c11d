"""The name a question's description is written next to: "Who is the Venezuelan president?".

A question of the form "Who/What/Which is the DESCRIPTION?" is answered in news and reports by a
sentence that writes the description *beside* the name, as a title before it ("Venezuelan
President Nicolás Maduro", "port director Amelia Okafor") or as an appositive after it ("Tomas
Brandt, the chief engineer of the project, said ..."). That adjacency is the support: the answer
is a span of the quote, and the words that make it the answer are the neighbouring words of the
same quote, so it can be checked by construction rather than by asking the 1.5B judge, which
scores such a claim at about the coin's edge (P(yes) 0.44-0.55 on the seed article's
"Who is the Venezuelan president mentioned in the article?", whatever the draft's wording).

Rules, and what they cost:
- Only a short description (at most ``MAX_DESCRIPTION`` content words once a meta tail such as
  "mentioned in the article" is dropped); anything longer is a question with conditions of its own
  that adjacency cannot prove, and is left to the drafted answer.
- Every content word of the description must stand right before the name (within the same clause,
  ``WINDOW_EXTRA`` words of slack) or in the appositive right after it (up to the next comma,
  semicolon, bracket or full stop). Words match by a shared root of four letters or more
  ("Venezuela's" matches "Venezuelan"); a synonym ("chief executive" for "CEO") does not, so
  those questions go to the drafted answer, which the judge checks.
- "Who" wants a person: the name must have two or more capitalized words and no word that marks
  an organisation (``bridge.is_person``).
- Exactly one name may fit (a short form that ends the long one counts as the same name: "Maduro"
  and "Nicolás Maduro"); two different names with the description decline.
The answerer still lets the judge veto (``answer.BRIDGE_FLOOR``), as for bridge answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .bridge import is_person
from .evidence import Source
from .question import capitalized_names
from .text import STOPWORDS

MAX_DESCRIPTION = 5  # content words of a description that adjacency can prove
WINDOW_EXTRA = 2  # words of slack before the name ("the country's president, Nicolás Maduro")

_ASK = re.compile(
    r"^\s*(?P<wh>who|what|which)\s+(?:is|was|are|were)\s+(?P<det>(?:the|a|an)\s+)?(?P<desc>[^?]+?)\s*\?*\s*$", re.I
)
_POSSESSIVE = re.compile(r"^[\w.-]+['’]s\s")  # "Norway's fisheries minister"
#: A description with one of these has a condition of its own ("the engineer that X hired").
_RELATIVE = {"that", "who", "whom", "whose", "which", "where", "when", "while", "after", "before"}
#: A tail that only points at the documents ("... mentioned in the article", "... in this report").
_META = re.compile(
    r"\s+(?:(?:who|that|which)\s+(?:is|was|are|were)\s+)?"
    r"(?:mentioned|named|cited|quoted|described|referred\s+to|discussed|featured)\b.*$"
    r"|\s+(?:in|from|according\s+to|of)\s+(?:the|this|these|that)\s+"
    r"(?:article|document|text|report|story|passage|source|file|page)s?\b.*$",
    re.I,
)
_WORD = re.compile(r"[\w’'-]+")
_CLAUSE_WORDS = {"who", "whom", "whose", "which", "that", "where", "when", "said", "says", "told", "is", "was"}
_CLAUSE_END = re.compile(r"[,;:()\[\].!?\"“”]")


@dataclass
class Described:
    name: str  # as written in the quote, the longest form
    source: Source  # the sentence that writes the description beside the name

    def to_dict(self) -> dict:
        s = self.source
        return {
            "kind": "appositive",
            "text": self.name,
            "sources": [{"source": s.source, "start": s.start, "end": s.end}],
        }


def description(question: str) -> tuple[str, list[str]] | None:
    """("who"|"what"|"which", the description's content words), or None for another question shape."""
    m = _ASK.match(question)
    if not m or not (m.group("det") or _POSSESSIVE.match(m.group("desc"))):
        return None  # "Who is Nicolás Maduro?" asks for a description, not a name
    desc = _META.sub("", m.group("desc"))
    words = [_base(w) for w in _WORD.findall(desc)]
    if _RELATIVE & set(words):
        return None
    words = [w for w in words if w and w not in STOPWORDS]
    if not words or len(words) > MAX_DESCRIPTION:
        return None
    return m.group("wh").lower(), words


def _base(word: str) -> str:
    return re.sub(r"['’]s$", "", word.lower()).strip("'’-")


def _same_root(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short[: max(4, len(short) - 1)])


def _covers(words: list[str], wanted: list[str]) -> bool:
    return all(any(_same_root(w, x) for x in words) for w in wanted)


def _fits(sentence: str, name_start: int, name_end: int, wanted: list[str]) -> bool:
    """Whether the description stands right before the name or in the appositive right after it."""
    before = sentence[:name_start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    if before[cut:].strip() == "" and cut and before[cut - 1] == ",":
        # "the country's president, Nicolás Maduro": a title set off by one comma
        prev = before[: cut - 1]
        cut = max((m.end() for m in _CLAUSE_END.finditer(prev)), default=0)
        before = prev
    window = [_base(w) for w in _WORD.findall(before[cut:])][-(len(wanted) + WINDOW_EXTRA) :]
    if _covers(window, wanted):
        return True
    # An appositive is a noun phrase set off by a comma ("Tomas Brandt, the chief engineer of the
    # project,"), not a relative clause ("Donald Trump, who says the president ...").
    m = re.match(r"\s*,\s*([^,;:()\[\].!?]{1,120})", sentence[name_end:])
    if not m:
        return False
    phrase = [_base(w) for w in _WORD.findall(m.group(1))]
    return len(phrase) <= len(wanted) + 5 and not _CLAUSE_WORDS & set(phrase) and _covers(phrase, wanted)


def find(question: str, sources: list[Source]) -> Described | None:
    """The one name the sources write beside the question's description, or None."""
    asked = description(question)
    if asked is None:
        return None
    wh, wanted = asked
    in_question = {n.lower() for n in capitalized_names(question)}
    found: dict[str, tuple[str, Source]] = {}
    for s in sources:
        text = s.text
        for run in capitalized_names(text):
            words = run.split()
            # A title written into the run ("Venezuelan President Nicolás Maduro") is not the name.
            while words and any(_same_root(_base(words[0]), w) for w in wanted):
                words = words[1:]
            if not words:
                continue
            name = " ".join(words)
            if name.lower() in in_question or (wh == "who" and not is_person(name)):
                continue
            for m in re.finditer(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text):
                if _fits(text, m.start(), m.end(), wanted):
                    key = name.lower()
                    if key not in found or len(name) > len(found[key][0]):
                        found[key] = (name, s)
                    break
    # A short form ending a longer one is the same name ("Maduro", "Nicolás Maduro").
    keys = sorted(found, key=len, reverse=True)
    distinct = [k for k in keys if not any(o != k and o.endswith(" " + k) for o in keys)]
    if len(distinct) != 1:
        return None
    name, source = found[distinct[0]]
    return Described(name, source)
