"""The public Python API: one ``Assistant`` object that every front end (CLI, web, scripts) uses.

It wires the pipeline files -> chunks -> index -> retrieval -> answer and owns the expensive
resources (embedding model, LLM, Chroma client), each created on first use so that cheap
commands stay cheap. It holds no conversation state: ``chat`` takes the history as an
argument, so one Assistant can serve many users at once.

Every question method takes ``docs``: files and folders to ask within (``scope``). It is
resolved per call against the index (a folder means every indexed document under it), and the
answer pipeline gets a scoped view of the retriever, so retrieval, evidence and citations all
stay inside it; ``Answer.scope`` reports the sources used. A scope that matches nothing is an
``InputError`` rather than a refusal: it is a typo or a removed document, not a missing answer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Iterator

from . import identity, language, summarize
from .answer import Answerer, Event
from .chat import standalone_question
from .documents import text_of
from .embed import Embedder, ServerEmbedder
from .errors import IndexNotReady, InputError
from .ingest import IngestReport, ingest
from .retrieve import Retriever
from .schema import Answer, Passage
from .settings import Settings
from .store import Store, check_name, collection_names
from .text import clean_input, shown_path

MAX_QUESTION_CHARS = 2000  # longer questions are refused with a message (a pasted document is not a question)
DEFAULT_COLLECTION = str(Settings.model_fields["collection"].default)  # opened (created) even when empty
Progress = Callable[[str, int, int], None]  # on_progress(stage, done, total) of ingest


class Assistant:
    """Ask questions about a folder of documents and get cited answers.

    >>> a = Assistant()                      # settings from ASSISTANT_* env vars / assistant.toml
    >>> a.ingest("seeds")                    # doctest: +SKIP
    >>> a.ask("Has Trump authorized the strikes?").answer   # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, *, llm=None, embed_model=None, **overrides):
        """``llm`` / ``embed_model``: any llama-index LLM and embedding model instead of the settings' ones."""
        if overrides.get("collection") is not None:
            check_name(overrides["collection"])  # a one-line InputError, not pydantic's
        self.settings = settings or Settings.load(**overrides)
        check_name(self.settings.collection)
        self.embedder = Embedder(self.settings)
        if self.settings.embed_url:  # the same two methods (embed, embed_one), vectors from a server
            self.embedder = ServerEmbedder(self.settings)  # type: ignore[assignment]
        if embed_model is not None:
            from .integrations.llama_index import LlamaIndexEmbedder

            self.embedder = LlamaIndexEmbedder(embed_model)  # type: ignore[assignment]
        self._store: Store | None = None
        self._retriever: Retriever | None = None
        self._llm = None
        if llm is not None:
            from .integrations.llama_index import LlamaIndexLLM

            self._llm = LlamaIndexLLM(llm)
        self._lock = threading.Lock()
        self._origin: Assistant | None = None  # the Assistant this one was made from by ``using``
        self._others: dict[str, Assistant] = {}  # ``using``'s Assistants, one per collection

    # -- collections -----------------------------------------------------------------------
    @property
    def collection(self) -> str:
        return self.settings.collection

    def using(self, collection: str | None) -> Assistant:
        """This assistant on another collection of the same index, sharing the embedder and the LLM.

        Cheap (nothing is loaded) and cached per name, so front ends can call it per request.
        ``None`` or this assistant's own collection gives this assistant back. A combined name,
        ``"user-alice+documents"``, gives one Assistant over those collections together, read only
        (``assistant/combined.py``).
        """
        from . import combined  # it builds on this class

        root = self._origin or self
        if collection is None or collection == root.settings.collection:
            return root
        if combined.is_combined(collection):
            name = combined.check(collection)
            if not combined.is_combined(name):  # "a+a": one collection
                return root.using(name)
        else:
            name = check_name(collection)
        with root._lock:
            other = root._others.get(name)
        if other is None:  # built outside the lock: a combined one asks ``using`` for its members
            if combined.is_combined(name):
                other = combined.CombinedAssistant(root, name)
            else:
                other = Assistant(root.settings.model_copy(update={"collection": name}))
                other.embedder, other._origin = root.embedder, root
            with root._lock:
                other = root._others.setdefault(name, other)
        return other

    def collections(self) -> list[dict]:
        """The index's collections: name, documents, chunks (internal ones such as ``NAME--rebuild`` hidden)."""
        rows = []
        for name in collection_names(self.settings):
            store = self.using(name).store
            rows.append({"name": name, "documents": len(store.documents()), "chunks": store.count()})
        return rows

    def _missing(self) -> IndexNotReady:
        name = self.settings.collection
        return IndexNotReady(
            f"there is no collection {name!r} in the index at {self.settings.chroma_url or self.settings.index_dir}: "
            f"run `assistant ingest DIR --collection {name}` to create it (`assistant collections` lists them)"
        )

    # -- resources, created on first use ---------------------------------------------------
    @property
    def store(self) -> Store:
        """The collection's store; a collection other than the default must exist (reads never create one)."""
        with self._lock:
            if self._store is None:
                name = self.settings.collection
                if name != DEFAULT_COLLECTION and name not in collection_names(self.settings):
                    raise self._missing()
                self._store = Store(self.settings)
            return self._store

    def _writable_store(self) -> Store:
        """The store for a write (ingest): the collection is created when it does not exist yet."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings)
            return self._store

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            if self.store.count():  # a query embedded by another model would find nonsense, silently
                identity.check(self.store, self.embedder, self.settings)
            self._retriever = Retriever(self.store, self.embedder, self.settings)
        return self._retriever

    @property
    def llm(self):
        if self._origin is not None:  # one LLM for every collection
            return self._origin.llm
        with self._lock:
            if self._llm is None:
                from .llm import load_llm

                self._llm = load_llm(self.settings)
            return self._llm

    # -- documents -------------------------------------------------------------------------
    def ingest(
        self, *paths: str, progress: bool | None = None, rebuild: bool = False, on_progress: Progress | None = None
    ) -> IngestReport:
        """Sync files and folders into the index (default: seeds/). Unchanged files cost nothing.

        A path that does not exist is an error before anything is read: a typo must not look
        like an empty folder (which would also remove that folder's documents from the index).
        ``rebuild`` re-embeds everything (see ``rebuild``). ``on_progress(stage, done, total)``: called
        as files are read and chunks embedded (``assistant.ingest.ingest``; the web app's upload bar).
        """
        paths = paths or ("seeds",)
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise InputError("no such file or folder: " + ", ".join(shown_path(str(p)) for p in missing))
        if rebuild:
            return self.rebuild(*paths, progress=progress, on_progress=on_progress)
        return ingest(
            paths, self._writable_store(), self.embedder, self.settings, progress=progress, on_progress=on_progress
        )

    def rebuild(self, *paths: str, progress: bool | None = None, on_progress: Progress | None = None) -> IngestReport:
        """Re-embed the given paths plus every indexed file still on disk into a fresh index.

        The new index is written beside the old one and swapped in only when complete, so a
        crash leaves the old index as it was (and a crash during the swap is finished on the
        next open, see ``Store``). Documents are never dropped: files indexed earlier from
        other folders are re-embedded too, unless they no longer exist.
        """
        old = self._writable_store()
        keep = [s for s in {d["source"] for d in old.documents()} if os.path.exists(s)]
        fresh = Store(self.settings, collection=old.rebuild_name)
        fresh.drop()  # the leftovers of an earlier, interrupted rebuild
        fresh = Store(self.settings, collection=old.rebuild_name)
        report = ingest(
            list(paths) + sorted(keep), fresh, self.embedder, self.settings, progress=progress, on_progress=on_progress
        )
        identity.check(fresh, self.embedder, self.settings)  # records the embedder even for an empty index
        old.replace_with(fresh)
        self._retriever = None
        return report

    def documents(self) -> list[dict]:
        return self.store.documents()

    def remove(self, source: str) -> None:
        """Remove one document; a path the index does not hold is an error (a typo must not look like success)."""
        source = os.path.abspath(source)
        if not self.store.has_source(source):
            raise InputError(f"not in the index: {shown_path(source)} (`assistant documents` lists what is)")
        self.store.delete_source(source)
        self.store.touch()

    def guide(self, source: str) -> dict:
        """A document's source guide: its main points (quoted) and questions it answers (cached)."""
        from . import guide

        path = os.path.abspath(source)
        try:
            return guide.build(self.store, self.embedder, self.llm, self.settings, path)
        except KeyError:
            raise InputError(f"not in the index: {shown_path(path)} (`assistant documents` lists what is)") from None

    def cached_guide(self, source: str) -> dict | None:
        """A document's source guide if it is computed already for its current version, else None
        (cheap: no LLM call; ``guide`` computes it)."""
        from . import guide

        path = os.path.abspath(source)
        try:
            return guide.cached_of(self.store, self.settings, path)
        except KeyError:
            raise InputError(f"not in the index: {shown_path(path)} (`assistant documents` lists what is)") from None

    def suggested_questions(self, n: int | None = None) -> list[str]:
        """Questions from the source guides computed so far, for the chat to offer (cheap: no LLM
        call); which and how many (default ``guide.SUGGESTIONS``): ``guide.pick_questions``."""
        from . import guide

        return guide.suggested_questions(self.store, self.settings, guide.SUGGESTIONS if n is None else n)

    @staticmethod
    def text_of(source: str) -> str:
        """The text that citations' start/end index into."""
        return text_of(source)

    # -- questions -------------------------------------------------------------------------
    def scope(self, docs: str | os.PathLike | list | None) -> list[str]:
        """The indexed sources that files and folders stand for ([] for None or []: the whole index).

        Raises ``InputError`` naming any path that matches no indexed document.
        """
        if docs is None:
            return []
        if isinstance(docs, (str, os.PathLike)):  # one path, not its characters
            docs = [docs]
        paths = [d for d in docs if str(d).strip()]
        return self.retriever.resolve(paths) if paths else []

    def _scoped(self, scope: list[str]):
        return self.retriever.scoped(scope) if scope else self.retriever

    def search(self, query: str, k: int | None = None, docs=None) -> list[Passage]:
        """Passages for a query; ``docs``: files or folders to search within (see ``scope``)."""
        query = clean_input(query)
        if not query:
            raise InputError("the query is empty: type words to look for in your documents")
        if k is not None and k < 1:
            raise InputError(f"the number of passages must be at least 1 (got {k})")
        return self._scoped(self.scope(docs)).search(query, k)

    def stream(
        self, question: str, history: list[tuple[str, str]] | None = None, docs=None
    ) -> Generator[Event, None, None]:
        """Yield Events: 'passages' first, then verified 'text' pieces, then the final 'answer'.

        ``docs``: files or folders to answer from (see ``scope``); the answer's ``scope`` lists them.
        """
        question = clean_input(question)
        if not question:
            raise InputError("the question is empty: type a question about your documents")
        if (
            len(question) > MAX_QUESTION_CHARS
        ):  # the prompt must fit the LLM's context; cutting would change the question
            raise InputError(
                f"the question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}: "
                "ask a shorter question, or add the text as a document and ask about it"
            )
        scope = self.scope(docs)  # before the LLM: a wrong path fails fast
        request = summarize.parse(question, self.documents())  # "Summarize X": the whole document, no retrieval
        if request:
            yield from summarize.stream(request, question, self.store, self.embedder)
            return
        lang = language.detect(question)  # other languages are answered in English, then translated back
        asked = language.to_english(self.llm, question) if lang != "en" else question
        standalone = standalone_question(self.llm, history or [], asked) if history else None
        retrieval_query, names_from = standalone, None
        if lang in language.UNSPACED:  # its own words find passages in its language (language.py)
            retrieval_query, names_from = f"{standalone or asked} {question}", question
        answerer = Answerer(self._scoped(scope), lambda: self.llm, self.settings)
        pieces: list[str] = []
        for event in answerer.stream(asked, retrieval_query=retrieval_query, names_from=names_from):
            if lang != "en" and event.kind == "text":
                pieces.append(event.data.strip())  # translated once the English answer is complete
                continue
            if event.kind == "answer":
                event.data.standalone_question = standalone
                event.data.scope = scope
                if lang != "en":
                    answer = event.data
                    answer.question, answer.language, answer.question_en = question, lang, asked
                    answer.answer_en, answer.answer = answer.answer, language.reply(self.llm, answer, lang, pieces)
                    yield Event("text", answer.answer)
            yield event

    def ask(self, question: str, history: list[tuple[str, str]] | None = None, docs=None) -> Answer:
        """Answer one question; with history, a follow-up in a conversation; ``docs``: within those."""
        for event in self.stream(question, history, docs=docs):
            if event.kind == "answer":
                return event.data
        raise RuntimeError("the answer stream ended without an answer")

    def chat(self, question: str, history: list[tuple[str, str]], docs=None) -> Answer:
        """Answer a conversational turn and append it to history (a list of (question, answer))."""
        answer = self.ask(question, history, docs=docs)
        history.append((question, answer.answer))
        return answer

    def stream_chat(self, question: str, history: list[tuple[str, str]], docs=None) -> Iterator[Event]:
        for event in self.stream(question, history, docs=docs):
            if event.kind == "answer":
                history.append((question, event.data.answer))
            yield event

    def ingest_documents(self, documents, progress: bool | None = None) -> IngestReport | None:
        """Index llama-index ``Document``s from any reader; citations slice their stored text."""
        from .integrations.llama_index import ingest_documents

        return ingest_documents(self, documents, progress=progress)

    # -- llama-index parts (imported on first use: plain users never pay for llama-index) ---
    def as_retriever(self, k: int | None = None):
        """This assistant's retrieval as a llama-index ``BaseRetriever`` (nodes with exact offsets)."""
        from .integrations.llama_index import AssistantRetriever

        return AssistantRetriever(self, k=k)

    def as_query_engine(self, streaming: bool = False):
        """Verified, cited answers as a llama-index query engine; ``source_nodes`` are the citations."""
        from .integrations.llama_index import AssistantQueryEngine

        return AssistantQueryEngine(self, streaming=streaming)

    def as_chat_engine(self):
        """A llama-index chat engine holding one conversation's history (this object holds none)."""
        from .integrations.llama_index import AssistantChatEngine

        return AssistantChatEngine(self)
