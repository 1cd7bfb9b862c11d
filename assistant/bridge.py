"""The one name a question in several parts describes: the name every part's evidence shares.

"Which company, reported by A for doing X and by B for doing Y, ...?" names its answer nowhere.
Each part is a description, and the answer is the entity the best sentences for *each* part
mention: the "bridge" entity of multi-hop question answering (HotpotQA calls these bridge
questions). The 1.5B model asked to draft such an answer often names an entity the question
itself mentions, or one that only one part's sentences hold; counting is more reliable than
reading here. So the answer is built from the evidence: the candidate names are the names in
each part's best sentences, minus the names the question uses, and the one that the most parts
share wins, provided it wins clearly. Its quotations (one per part, each naming it) are the
answer's citations, so the load-bearing word of the answer is a span of every quote.

Design choices and their costs:
- Names are runs of capitalized words (``question.capitalized_names``): no named-entity model
  ships inside a PyPI package. A lower-case answer ("sportsbooks") is never found here, and a
  capitalized common word can be a candidate; the margin rule below and the judge (answer.py)
  keep those out, and the LLM path answers whatever this declines.
- A short form joins its long form ("Bankman-Fried" and "SBF" count for "Sam Bankman-Fried"):
  a name that ends another, or is its initials. The name shown is the form the sentences use
  most, lengthened by one first name where the passages write one ("Sam" + "Bankman-Fried").
- "Who" asks for a person: then a candidate needs two or more words (a first and a last name)
  and no word that marks an organisation ("Research", "Commission", ...). Without that, the
  company a person ran ("Alameda Research") can outnumber the person.
- Only a clear winner is returned: at least two parts, and more parts than the runner-up, or as
  many parts and half as many mentions again. Anything closer is left to the LLM.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from .evidence import Source
from .question import capitalized_names
from .text import STOPWORDS

MIN_PARTS = 2  # parts whose evidence must name the winner
MENTION_MARGIN = 1.5  # with as many parts as the runner-up, this many times its mentions
_WHO = re.compile(r"^\s*(who|whom|whose)\b", re.I)
_ASKS_FOR_ONE = re.compile(r"^\s*(who|whom|whose|which|what)\b", re.I)
#: Capitalized words that name no entity: days, months, sentence openers.
_NOT_NAMES = set(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june "
    "july august september october november december today yesterday tomorrow now read additionally "
    "however meanwhile instead also".split()
)
#: Words that make a name an organisation's or a place's, not a person's.
_ORGANISATION = set(
    "inc corp corporation company co ltd llc plc group research capital court commission department "
    "ministry university college institute association council agency bank exchange news times games "
    "ventures foundation fund party league club team network networks labs act street road avenue "
    "square bridge river lake mountain island park city county state province district airport station".split()
)


@dataclass
class Bridge:
    name: str  # as shown: "Sam Bankman-Fried"
    sources: list[Source]  # one per part it covers: that part's best sentence naming it
    parts: int  # how many of the question's parts name it
    mentions: int  # how often the parts' sentences name it
    runner_up: str | None  # the next candidate, kept on the Answer's checks

    def to_dict(self) -> dict:
        return {
            "kind": "bridge",
            "text": self.name,
            "parts": self.parts,
            "mentions": self.mentions,
            "runner_up": self.runner_up,
            "sources": [{"source": s.source, "start": s.start, "end": s.end} for s in self.sources],
        }


def asks_for_one_name(question: str) -> bool:
    """Who / which / what questions: the ones whose answer can be one name."""
    return bool(_ASKS_FOR_ONE.match(question))


#: Words that open a sentence before a name ("When Google ...", "Using Caroline Ellison ...").
_OPENERS = set("when after before while using then if as since but and so with for from by once".split())


def _clean(name: str) -> str:
    """A name without the titles, initialisms and sentence openers that lead it ("CEO Caroline Ellison")."""
    words = name.split()
    while len(words) > 1 and (words[0].isupper() or "." in words[0] or words[0].lower() in _OPENERS):
        words = words[1:]
    return " ".join(words).strip(".")


def _names(text: str, known: set[str]) -> list[str]:
    """Capitalized names, and a sentence's first word when it is a name used elsewhere.

    ``capitalized_names`` skips a sentence's capitalized first word ("Lindqvist led the team"),
    since most first words are not names; one that the passages also use mid-sentence is.
    """
    names = capitalized_names(text)
    m = re.match(r"\s*([A-Z][\w'’-]+)", text)
    if m:
        first = re.sub(r"['’]s$", "", m.group(1))
        if first.lower() in known and first.lower() not in _OPENERS and all(first not in n.split() for n in names):
            names.insert(0, first)
    return names


def _initials(name: str) -> str:
    return "".join(w[0] for w in re.split(r"[\s-]+", name) if w)


def _mentions(text: str, forms: list[str]) -> bool:
    low = text.lower()
    return any(re.search(r"(?<![\w-])" + re.escape(f) + r"(?![\w-])", low) for f in forms)


def is_person(name: str) -> bool:
    words = name.split()
    return (
        len(words) >= 2
        and all(w[:1].isupper() and not w.isupper() for w in words)
        and not any(w.lower().strip(".") in _ORGANISATION for w in re.split(r"[\s-]+", name))
    )


def _lengthen(name: str, texts: list[str]) -> str:
    """One first name more, where the passages write it ("Bankman-Fried" -> "Sam Bankman-Fried")."""
    counts: Counter[str] = Counter()
    pattern = re.compile(r"\b([A-Z][a-z]{1,20})\s+" + re.escape(name) + r"(?![\w-])")
    for t in texts:
        for m in pattern.finditer(t):
            first = m.group(1)
            low = first.lower()
            if low in _NOT_NAMES or low in _ORGANISATION or low in _OPENERS or low in STOPWORDS:
                continue
            if not _is_sentence_start(t, m):
                counts[first] += 1
    if not counts:
        return name
    return f"{counts.most_common(1)[0][0]} {name}"


def _is_sentence_start(text: str, m: re.Match) -> bool:
    """'The Verge' is a name; 'Then Google' at a sentence's start is not a first name."""
    before = text[: m.start()].rstrip()
    return not before or before[-1] in '.!?\n"“'


def find(question: str, part_sources: list[list[Source]], texts: list[str]) -> Bridge | None:
    """The name the parts' sentences share, if one clearly does; else None.

    ``part_sources``: each part's best sentences (``evidence.select``: reading order, each with
    its score); ``texts``: the passages' texts, where a short name's first name may be found.
    """
    if len(part_sources) < MIN_PARTS or not asks_for_one_name(question):
        return None
    asked = {n.lower() for n in capitalized_names(question)}
    question_words = set(re.findall(r"[\w'’.-]+", question.lower()))
    cover: dict[str, set[int]] = defaultdict(set)
    count: Counter[str] = Counter()
    surface: dict[str, str] = {}
    every_text = texts + [s.text for sources in part_sources for s in sources]
    known = {_clean(n).lower() for t in every_text for n in capitalized_names(t)}
    known |= {k.split()[-1] for k in known}
    for i, sources in enumerate(part_sources):
        for s in sources:
            for raw in _names(s.text, known):
                name = _clean(raw)
                key = name.lower()
                words = key.split()
                if len(key) < 2 or key in asked or all(w in question_words for w in words):
                    continue
                if any(w in _NOT_NAMES for w in words):
                    continue
                cover[key].add(i)
                count[key] += 1
                surface.setdefault(key, name)
    # Short forms join the long form they end, or whose initials they are.
    keys = sorted(cover, key=lambda k: (-len(k), k))
    root = {k: k for k in keys}
    for k in keys:
        for longer in keys:
            if len(longer) <= len(k):
                continue
            ends = re.search(r"(^|[\s-])" + re.escape(k) + r"$", longer) is not None
            initials = " " not in k and k.isalpha() and len(re.split(r"[\s-]+", longer)) >= 2 and _initials(longer) == k
            whole_words = all(len(w) >= 2 for w in longer.split())  # "Series B Google" is not Google's long form
            if (ends or initials) and whole_words:
                root[k] = root[longer]
                break
    groups: dict[str, list[str]] = defaultdict(list)
    for k in keys:
        r = k
        while root[r] != r:
            r = root[r]
        groups[r].append(k)
    candidates = []
    for members in groups.values():
        parts = set().union(*(cover[m] for m in members))
        mentions = sum(count[m] for m in members)
        shown = surface[members[0]]  # the longest form: the one the others end or abbreviate
        shown = _lengthen(shown, texts) if len(shown.split()) == 1 else shown
        if _WHO.match(question) and not is_person(shown):
            continue
        candidates.append((len(parts), mentions, shown, members))
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
    if not candidates or candidates[0][0] < MIN_PARTS:
        return None
    parts_n, mentions, shown, members = candidates[0]
    runner_up = candidates[1] if len(candidates) > 1 else None
    if runner_up and runner_up[0] == parts_n and mentions < MENTION_MARGIN * runner_up[1]:
        return None
    quotes: list[Source] = []
    for sources in part_sources:
        naming = [s for s in sources if _mentions(s.text, members)]
        # The best-scoring sentence that writes the full name shown, else the best that names it.
        naming.sort(key=lambda s: (not _mentions(s.text, [shown.lower()]), -s.score))
        if naming and all((q.source, q.start) != (naming[0].source, naming[0].start) for q in quotes):
            quotes.append(naming[0])
    return Bridge(shown, quotes, parts_n, mentions, runner_up[2] if runner_up else None)
