"""Questions over several collections at once: a user's private documents and the shared ones together.

A *combined collection* is written as its members' names joined by ``+`` (``user-alice+documents``).
``+`` is not allowed in a collection name (``store.check_name``), so the notation cannot collide
with a real collection, and it travels unchanged wherever a collection name goes: the chat's
chooser, ``/ask``, ``/search`` and ``/v1``'s ``collection`` field, the access rule
(``accounts.Access.read`` checks every member), the answer queue's cache key. ``Assistant.using``
turns it into a ``CombinedAssistant``.

Design and trade-offs:

* **Composition, not a new retriever.** ``CombinedRetriever`` holds one ordinary ``Retriever`` per
  member (each the member Assistant's own, with its lexical index, identity check and scope
  handling) and offers the few methods the answer pipeline calls (``search``, ``unknown_names``,
  ``sources_named``, ``clauses``, ``embedder``) plus ``resolve`` and ``scoped`` for "Ask within".
  Nothing in ``retrieve.py`` changes, so it keeps working while that module is refactored; a
  lookup the pipeline adds later fails loudly here (no ``__getattr__`` forwarding).
* **Merging rankings.** Each member ranks its own passages (its plan, per-document cap and
  coverage order are kept). The lists are merged like merge sort: the next passage is the best
  *head* of the lists, compared on one scale for everyone: the whole question's BM25 and cosine,
  each divided by its best value over all the lists, mixed as the Retriever mixes them
  (``LEXICAL_WEIGHT``). A collection that does not know the question's words therefore gives up its
  places to one that does, instead of half the context going to each by turn (round robin); and
  a member's own order is never overturned. The cost: BM25's IDF is each collection's own, so a
  small private collection's lexical scores run lower than a large one's for the same match (its
  rare words are rarer in a big corpus); the cosine part is comparable (one embedder, checked by
  ``identity``). Passages keep their own collection's scores, so the evidence gate in
  ``answer.py`` reads them as it always did.
* **Names and scope.** A name is unknown only if no member knows it (empty members are left out:
  they know nothing, and would otherwise make every name "known"); the documents a clause names
  are the union over members. A scope ("Ask within") is resolved against every member; a path no
  member holds is the usual one-line error.
* **Read only.** Uploads and removals name one collection (``accounts.Access.write`` never accepts
  a combined name); the Assistant refuses them here too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from .core import Assistant
from .errors import InputError
from .fusion import LEXICAL_WEIGHT  # the Retriever's own whole-question mix of BM25 and cosine
from .schema import Passage
from .store import check_name

SEP = "+"


def parts(name: str | None) -> tuple[str, ...]:
    """The member collections of a name: ``"a+b"`` -> ("a", "b"); a plain name -> (name,); each checked."""
    if name is None:
        return ()
    members = [p.strip() for p in str(name).split(SEP)]
    return tuple(dict.fromkeys(check_name(p) for p in members))


def join(names: Iterable[str]) -> str:
    """The name of the collections together (one name stays itself)."""
    return SEP.join(dict.fromkeys(names))


def check(name: str) -> str:
    """A collection name or a combined one, normalised (``a + b`` -> ``a+b``), else InputError."""
    return join(parts(name))


def is_combined(name: str | None) -> bool:
    return name is not None and SEP in str(name)


def _union_scores(lists: list[list[Passage]]) -> list[list[float]]:
    """Each passage's whole-question score on one scale for every list (see the module docstring)."""
    every = [p for lst in lists for p in lst]
    max_lex = max((p.lexical or 0.0 for p in every), default=0.0) or 1.0
    max_dense = max((max(p.dense or 0.0, 0.0) for p in every), default=0.0) or 1.0
    return [
        [
            LEXICAL_WEIGHT * (p.lexical or 0.0) / max_lex + (1 - LEXICAL_WEIGHT) * max(p.dense or 0.0, 0.0) / max_dense
            for p in lst
        ]
        for lst in lists
    ]


def merge(lists: list[list[Passage]], k: int) -> list[Passage]:
    """The k best passages of several rankings: repeatedly the best head (each list's order kept)."""
    scores = _union_scores(lists)
    heads = [0] * len(lists)
    out: list[Passage] = []
    seen: set[str] = set()
    while len(out) < k:
        best = None
        for n, lst in enumerate(lists):
            if heads[n] < len(lst) and (best is None or scores[n][heads[n]] > scores[best][heads[best]]):
                best = n
        if best is None:
            break
        passage = lists[best][heads[best]]
        heads[best] += 1
        if passage.chunk.id not in seen:  # the same file indexed in two collections: shown once
            seen.add(passage.chunk.id)
            out.append(passage)
    return out


class CombinedRetriever:
    """Several retrievers (or scoped views of them) as one, with the methods the answer pipeline calls."""

    def __init__(self, members: Sequence):
        if not members:
            raise ValueError("a combined retriever needs at least one member")
        self.members = list(members)
        self.embedder, self.settings = self.members[0].embedder, self.members[0].settings

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        k = k or self.settings.top_k
        return merge([m.search(query, k) for m in self.members], k)

    def unknown_names(self, text: str) -> list[str]:
        """Names no member's documents contain (one that any member knows is not unknown)."""
        known_nowhere: list[str] | None = None
        for m in self.members:
            missing = m.unknown_names(text)
            known_nowhere = missing if known_nowhere is None else [n for n in known_nowhere if n in missing]
        return known_nowhere or []

    def sources_named(self, text: str) -> set[str] | None:
        found = [s for s in (m.sources_named(text) for m in self.members) if s is not None]
        return set().union(*found) if found else None

    def clauses(self, query: str) -> list[str]:
        return self.members[0].clauses(query)  # text analysis: the first member's outlets decide the joins

    # -- scope (members are plain Retrievers here) -----------------------------------------
    @staticmethod
    def _owned(member, paths: list[str]) -> dict[str, list[str]]:
        """{path: the member's indexed sources it stands for}, for the paths the member holds."""
        got = {}
        for p in paths:
            try:
                got[p] = member.resolve([p])
            except InputError:
                continue
        return got

    def resolve(self, paths: Iterable[str]) -> list[str]:
        """The indexed sources the files and folders stand for, in any member; InputError naming a path none holds."""
        paths = list(paths)
        owned = [self._owned(m, paths) for m in self.members]
        unknown = [p for p in paths if not any(p in o for o in owned)]
        if unknown:
            shown = ", ".join(str(p) for p in unknown)
            raise InputError(f"no indexed document at {shown} (`assistant documents` lists what is indexed)")
        return sorted({s for o in owned for hits in o.values() for s in hits})

    def scoped(self, sources: Iterable[str]) -> CombinedRetriever:
        """The members limited to the sources (members holding none of them drop out)."""
        sources = list(sources)
        views = []
        for m in self.members:
            own = sorted({s for hits in self._owned(m, sources).values() for s in hits})
            if own:
                views.append(m.scoped(own))
        if not views:
            raise InputError("no indexed document in this scope (`assistant documents` lists what is indexed)")
        return CombinedRetriever(views)


class CombinedStore:
    """The members' stores read as one: what the Assistant's question path and the answer queue read."""

    def __init__(self, stores: Sequence):
        self.stores = list(stores)
        self.name = join(s.name for s in self.stores)

    def version(self) -> str:
        """Changes when any member changes (the answer cache's key)."""
        return "|".join(str(s.version()) for s in self.stores)

    def count(self) -> int:
        return sum(s.count() for s in self.stores)

    def documents(self) -> list[dict]:
        seen: dict[str, dict] = {}
        for s in self.stores:
            for d in s.documents():
                seen.setdefault(d["source"], d)
        return list(seen.values())

    def has_source(self, source: str) -> bool:
        return any(s.has_source(source) for s in self.stores)

    def holder(self, source: str):
        """The first member store that holds the source (KeyError when none does)."""
        for s in self.stores:
            if s.has_source(source):
                return s
        raise KeyError(source)

    def chunks_of(self, source: str):
        try:
            return self.holder(source).chunks_of(source)
        except KeyError:
            return []


class CombinedAssistant(Assistant):
    """An Assistant over the members of a combined name, sharing the root's embedder and LLM; read only.

    Made by ``Assistant.using("a+b")`` (cached there per name). Questions, search, scope, the
    document list, guides and suggestions read every member; writes are refused.
    """

    def __init__(self, root: Assistant, name: str):
        members = [root.using(n) for n in parts(name)]
        super().__init__(root.settings.model_copy(update={"collection": members[0].collection}))
        self.members = members
        self.embedder, self._origin = root.embedder, root
        self.name = join(m.collection for m in members)

    @property
    def collection(self) -> str:
        return self.name

    @property
    def store(self):  # type: ignore[override]
        return CombinedStore([m.store for m in self.members])

    @property
    def retriever(self):  # type: ignore[override]
        """The members' retrievers together; empty members left out (an empty index knows no names, so
        it would make every name "known somewhere"), the first kept if all are empty."""
        full = [m for m in self.members if m.store.count()] or self.members[:1]
        return CombinedRetriever([m.retriever for m in full])

    def _member_of(self, source: str) -> Assistant:
        path = os.path.abspath(source)
        for m in self.members:
            if m.store.has_source(path):
                return m
        raise InputError(f"not in the index: {source} (`assistant documents` lists what is)")

    def cached_guide(self, source: str) -> dict | None:
        return self._member_of(source).cached_guide(source)

    def guide(self, source: str) -> dict:
        return self._member_of(source).guide(source)

    def suggested_questions(self, n: int | None = None) -> list[str]:
        got: list[str] = []
        for m in self.members:
            got += [q for q in m.suggested_questions(n) if q not in got]
        return got if n is None else got[:n]

    def ingest(self, *paths, **kwargs):  # type: ignore[override]
        raise InputError(f"{self.name} combines collections: choose one of them to add documents to")

    def rebuild(self, *paths, **kwargs):  # type: ignore[override]
        raise InputError(f"{self.name} combines collections: rebuild each of them")

    def remove(self, source: str) -> None:
        raise InputError(f"{self.name} combines collections: choose the one to remove the document from")
