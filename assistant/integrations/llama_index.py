"""llama-index parts backed by an ``Assistant``: a retriever, a query engine and a chat engine.

Design: these are thin adapters over the public ``Assistant`` API (``search`` and ``stream``),
not a re-implementation on llama-index's own pipeline. The assistant's value is what happens
between retrieval and the reply: hybrid retrieval, evidence checks, sentence-by-sentence
verification, exact quotes and honest refusals. Rebuilding that out of llama-index response
synthesizers would lose it, so llama-index sees the finished product through its own types:

* ``AssistantRetriever`` -> ``NodeWithScore`` per retrieved chunk. ``start_char_idx`` and
  ``end_char_idx`` are offsets into ``Assistant.text_of(node.metadata["source"])``, the same
  text citations index into, so a node's text can always be checked against its document.
* ``AssistantQueryEngine`` -> ``Response`` (or ``StreamingResponse``) whose ``response`` is the
  verified answer with its ``[n]`` markers and whose ``source_nodes`` are the *citations*, one
  node per ``[n]``, in order, node text = the exact quote. They are the evidence for the answer,
  not everything retrieval found: a refusal has no source nodes (use the retriever for the
  closest passages). ``metadata`` carries ``refused``, ``citations``, ``removed_claims``,
  ``standalone_question`` and ``timings``, so a caller never has to parse the text to tell a
  refusal from an answer.
* ``AssistantChatEngine`` -> ``AgentChatResponse`` / ``StreamingAgentChatResponse``. It keeps
  its own (question, answer) history because ``Assistant.stream`` takes history as an argument
  (the Assistant is stateless so that one of them can serve many users); one engine is one
  conversation.

Trade-offs and caveats:

* Prompts are the assistant's own, not llama-index templates: ``get_prompts()`` is empty and
  ``update_prompts`` changes nothing. ``QueryBundle.custom_embedding_strs`` and embeddings are
  ignored; only ``query_str`` is used, because the assistant embeds with its own model.
* Streaming. llama-index's ``StreamingResponse`` is a plain dataclass around a generator, with
  no hook for "the stream has ended". So ``source_nodes`` and ``metadata`` are the same list and
  dict objects from the start and are filled in place only once ``response_gen`` is exhausted
  (or ``str(r)`` / ``r.get_response()`` / ``r.print_response_stream()`` has drained it).
  Read them after the stream, not before; if the consumer stops early they stay empty. The
  stream is pulled on the consumer's thread as it iterates (no background thread), so nothing
  is generated that nobody reads, and stopping early stops the LLM. Retrieval (and, in a chat,
  the rewrite of a follow-up into a standalone question) runs before ``query``/``stream_chat``
  return, so a bad question or a missing index raises there, not half-way through iteration.
* Async methods run the synchronous pipeline in a worker thread (``asyncio.to_thread``): the
  local LLM is CPU-bound and serialises its requests anyway, so there is nothing to gain from a
  native async path, and the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.tools import ToolOutput

if TYPE_CHECKING:
    from ..answer import Event
    from ..core import Assistant
    from ..schema import Answer, Chunk, Citation

__all__ = ["AssistantRetriever", "AssistantQueryEngine", "AssistantChatEngine"]

#: Fields a chunk or citation carries only for some formats (PDF pages, headings). Read with
#: getattr so this module works with records that lack them; left out of node metadata when empty
#: (None / ''), so that "no page" never looks like a page.
OPTIONAL_FIELDS = ("page", "section")
TOOL_NAME = "assistant"


# -- records -> nodes ------------------------------------------------------------------------
def _with_optional(meta: dict, record: Any) -> dict:
    for name in OPTIONAL_FIELDS:
        value = getattr(record, name, None)
        if value not in (None, ""):
            meta[name] = value
    return meta


def _source_link(source: str, title: str) -> dict:
    """SOURCE relationship to the document, so llama-index's ``node.ref_doc_id`` is the file."""
    return {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=source, metadata={"title": title})}


def chunk_node(chunk: Chunk, score: float | None) -> NodeWithScore:
    meta = _with_optional({"source": chunk.source, "title": chunk.title, "date": chunk.date}, chunk)
    node = TextNode(
        id_=chunk.id,
        text=chunk.text,
        start_char_idx=chunk.start,
        end_char_idx=chunk.end,
        metadata=meta,
        relationships=_source_link(chunk.source, chunk.title),
    )
    return NodeWithScore(node=node, score=score)


def citation_node(c: Citation) -> NodeWithScore:
    # The id names the span, not a chunk: a quote may be a sentence inside a chunk, and the same
    # span cited in two answers should be recognisably the same node.
    meta = _with_optional({"n": c.n, "source": c.source, "title": c.title, "date": c.date}, c)
    node = TextNode(
        id_=f"{c.source}#{c.start}-{c.end}",
        text=c.quote,
        start_char_idx=c.start,
        end_char_idx=c.end,
        metadata=meta,
        relationships=_source_link(c.source, c.title),
    )
    return NodeWithScore(node=node, score=c.score)


def answer_metadata(answer: Answer) -> dict:
    """JSON-ready facts about the answer that the text alone does not say reliably."""
    return {
        "refused": answer.refused,
        "citations": [c.to_dict() for c in answer.citations],
        "removed_claims": list(answer.removed_claims),
        "standalone_question": answer.standalone_question,
        "timings": dict(answer.timings),
    }


def answer_response(answer: Answer) -> Response:
    return Response(
        response=answer.answer,
        source_nodes=[citation_node(c) for c in answer.citations],
        metadata=answer_metadata(answer),
    )


# -- driving Assistant.stream -----------------------------------------------------------------
class _Stream:
    """One ``Assistant.stream`` run: started eagerly up to its first event, then pulled lazily.

    Taking the first event at once runs retrieval (and a follow-up's rewrite) before the caller
    gets a response object, so errors surface from ``query``/``chat`` where callers expect them.
    """

    def __init__(self, events: Iterator[Event], on_answer: Callable[[Answer], None]):
        self._events: Any = events  # a generator: closed when the consumer stops
        self._on_answer = on_answer
        self._first = next(events)  # may raise InputError, IndexNotReady, ...
        self.answer: Answer | None = None

    def pieces(self) -> Generator[str, None, None]:
        """The verified text pieces; ``on_answer`` runs after the last one, before the end."""
        try:
            for event in itertools.chain((self._first,), self._events):
                if event.kind == "text":
                    yield event.data
                elif event.kind == "answer":
                    self.answer = event.data
                    self._on_answer(event.data)
                    return
            raise RuntimeError("the answer stream ended without an answer")
        finally:
            self._events.close()  # a consumer that stops early stops the LLM too

    def run(self) -> Answer:
        for _ in self.pieces():
            pass
        assert self.answer is not None
        return self.answer


_T = TypeVar("_T")


async def _athread(gen: Generator[_T, None, None]) -> AsyncGenerator[_T, None]:
    """Iterate a blocking generator from async code, one ``next`` per worker-thread hop."""
    done = object()
    try:
        while (item := await asyncio.to_thread(next, gen, done)) is not done:
            yield cast(_T, item)
    finally:
        try:
            gen.close()
        except ValueError:  # still running in the worker thread (cancelled mid-next): it ends there
            pass


def _fill(nodes: list, meta: dict, answer: Answer) -> None:
    nodes.extend(citation_node(c) for c in answer.citations)
    meta.update(answer_metadata(answer))


# -- retriever -----------------------------------------------------------------------------
class AssistantRetriever(BaseRetriever):
    """The assistant's hybrid (dense + BM25) retrieval as a llama-index retriever.

    Scores are the assistant's fused scores, comparable within one result list only.
    """

    def __init__(
        self,
        assistant: Assistant,
        k: int | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ):
        self._assistant = assistant
        self._k = k  # None: the assistant's own top_k setting
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _get_prompt_modules(self) -> dict:
        return {}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [chunk_node(p.chunk, p.score) for p in self._assistant.search(query_bundle.query_str, self._k)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # The base class would run the embedder on the event loop's thread.
        return await asyncio.to_thread(self._retrieve, query_bundle)


# -- query engine ----------------------------------------------------------------------------
class AssistantQueryEngine(BaseQueryEngine):
    """Verified, cited answers as llama-index responses; ``streaming`` picks the response type.

    The flag is fixed per engine, as with llama-index's own ``as_query_engine(streaming=...)``,
    so code written against those engines works unchanged.
    """

    def __init__(self, assistant: Assistant, streaming: bool = False, callback_manager: CallbackManager | None = None):
        self._assistant = assistant
        self.streaming = streaming
        super().__init__(callback_manager=callback_manager)

    def _get_prompt_modules(self) -> dict:
        return {}

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """What the answer would be drawn from (llama-index tools call this on query engines)."""
        return AssistantRetriever(self._assistant, callback_manager=self.callback_manager).retrieve(query_bundle)

    def _start(self, query_bundle: QueryBundle) -> tuple[_Stream, list, dict]:
        nodes: list[NodeWithScore] = []
        meta: dict = {}
        run = _Stream(self._assistant.stream(query_bundle.query_str), lambda a: _fill(nodes, meta, a))
        return run, nodes, meta

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        run, nodes, meta = self._start(query_bundle)
        if not self.streaming:
            return answer_response(run.run())
        response = StreamingResponse(response_gen=None, source_nodes=nodes, metadata=meta)  # type: ignore[arg-type]

        def gen() -> Generator[str, None, None]:
            yield from run.pieces()
            response.response_txt = run.answer.answer if run.answer else None

        response.response_gen = gen()
        return response

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        if not self.streaming:
            return await asyncio.to_thread(self._query, query_bundle)
        # Async streaming callers (e.g. CondenseQuestionChatEngine.astream_chat) expect
        # AsyncStreamingResponse, as llama-index's own engines return from aquery.
        run, nodes, meta = await asyncio.to_thread(self._start, query_bundle)
        return AsyncStreamingResponse(response_gen=_athread(run.pieces()), source_nodes=nodes, metadata=meta)


# -- chat engine ---------------------------------------------------------------------------
def _pairs(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """ChatMessages -> (question, answer) turns: a user message followed by an assistant one.

    System and tool messages, and a user message with no reply, are dropped: the assistant's
    follow-up rewrite only ever reads completed turns.
    """
    turns: list[tuple[str, str]] = []
    question: str | None = None
    for m in messages:
        if m.role == MessageRole.USER:
            question = m.content or ""
        elif m.role == MessageRole.ASSISTANT and question is not None:
            turns.append((question, m.content or ""))
            question = None
    return turns


class AssistantChatEngine(BaseChatEngine):
    """A conversation with the assistant: follow-ups are rewritten with the turns so far.

    Passing ``chat_history`` to a call replaces the engine's history, as llama-index's own chat
    engines do with their memory. A refused turn is kept in the history like any other, so the
    next follow-up knows what was asked. Not for concurrent use: one engine, one conversation.
    """

    def __init__(self, assistant: Assistant, history: list[tuple[str, str]] | None = None):
        self._assistant = assistant
        self._history: list[tuple[str, str]] = list(history or [])

    @property
    def history(self) -> list[tuple[str, str]]:
        """The turns as (question, answer) tuples, the form ``Assistant.stream`` takes."""
        return list(self._history)

    @property
    def chat_history(self) -> list[ChatMessage]:
        messages = []
        for question, answer in self._history:
            messages.append(ChatMessage(role=MessageRole.USER, content=question))
            messages.append(ChatMessage(role=MessageRole.ASSISTANT, content=answer))
        return messages

    def reset(self) -> None:
        self._history = []

    def _start(
        self, message: str, chat_history: list[ChatMessage] | None, on_answer: Callable[[Answer], None]
    ) -> _Stream:
        if chat_history is not None:
            self._history = _pairs(chat_history)
        history = list(self._history)  # a snapshot: this turn is appended only when it is answered

        def record(answer: Answer) -> None:
            self._history.append((message, answer.answer))
            on_answer(answer)

        return _Stream(self._assistant.stream(message, history), record)

    @staticmethod
    def _tool_output(message: str, answer: Answer) -> ToolOutput:
        # ``sources`` is where llama-index agents look for what a step did; the raw output is
        # the query-engine Response so that ``set_source_nodes`` style code finds the citations.
        return ToolOutput(
            tool_name=TOOL_NAME,
            content=answer.answer,
            raw_input={"question": message, "standalone_question": answer.standalone_question},
            raw_output=answer_response(answer),
        )

    def chat(self, message: str, chat_history: list[ChatMessage] | None = None) -> AgentChatResponse:
        answer = self._start(message, chat_history, lambda a: None).run()
        return AgentChatResponse(
            response=answer.answer,
            sources=[self._tool_output(message, answer)],
            source_nodes=[citation_node(c) for c in answer.citations],
            metadata=answer_metadata(answer),
        )

    def stream_chat(self, message: str, chat_history: list[ChatMessage] | None = None) -> StreamingAgentChatResponse:
        # is_writing_to_memory=False makes response_gen read chat_stream directly on the caller's
        # thread; llama-index's default (a writer thread feeding a queue into a BaseMemory) would
        # need a memory object and generate text that nobody may read. StreamingAgentChatResponse
        # has no metadata field, so ``metadata`` is set as an attribute when the stream ends.
        response = StreamingAgentChatResponse(is_writing_to_memory=False)
        response.metadata = {}  # type: ignore[attr-defined]

        def on_answer(answer: Answer) -> None:
            response.sources.append(self._tool_output(message, answer))
            _fill(response.source_nodes, response.metadata, answer)  # type: ignore[attr-defined]
            response.response = answer.answer
            response.is_done = True

        run = self._start(message, chat_history, on_answer)

        def deltas() -> Generator[ChatResponse, None, None]:
            text = ""
            for piece in run.pieces():
                text += piece
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)

        # One underlying stream, readable either way: response_gen uses chat_stream,
        # async_response_gen uses achat_stream; whichever the caller iterates drives it.
        stream = deltas()
        response.chat_stream = stream
        response.achat_stream = _athread(stream)
        return response

    async def achat(self, message: str, chat_history: list[ChatMessage] | None = None) -> AgentChatResponse:
        return await asyncio.to_thread(self.chat, message, chat_history)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        return await asyncio.to_thread(self.stream_chat, message, chat_history)


# --------------------------------------------------------------------------- models and documents in


class LlamaIndexLLM:
    """Any llama-index ``LLM`` behind the small interface the pipeline uses (``assistant.llm.LLM``).

    The judge wants P(yes) from token log-probabilities, which llama-index's LLM interface does
    not expose; ``yes_probability`` therefore reads the one-word reply (1.0 / 0.0, as the base
    class does for servers without logprobs): coarser, but the same decisions at the thresholds.
    """

    def __init__(self, llm):
        self.llm = llm
        self.name = getattr(getattr(llm, "metadata", None), "model_name", None) or type(llm).__name__

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None):
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        text = ""
        for part in self.llm.stream_chat(chat):
            delta = part.delta or ""
            text += delta
            if stop and any(s in text for s in stop):
                yield delta.split(next(s for s in stop if s in text))[0]
                return
            yield delta

    def complete(self, messages, max_tokens=256, temperature=0.0, stop=None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))

    def yes_probability(self, messages) -> float:
        from ..llm import LLM

        return LLM.yes_probability(self, messages)  # type: ignore[arg-type]  # reads the word


class LlamaIndexEmbedder:
    """Any llama-index ``BaseEmbedding`` as the assistant's embedder (unit-length numpy vectors).

    ``name`` goes into the index's identity record, so an index built with one model refuses
    another (``assistant.identity``) whichever way the model was given.
    """

    def __init__(self, embed_model):
        self.embed_model = embed_model
        self.name = f"{type(embed_model).__name__}:{getattr(embed_model, 'model_name', '') or ''}"

    def embed(self, texts: list[str], batch_size: int = 32):
        import numpy as np

        vecs = np.asarray(self.embed_model.get_text_embedding_batch(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms == 0, 1.0, norms)

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


def _safe_name(doc) -> str:
    import hashlib
    import re

    ident = str(doc.doc_id or doc.id_ or "")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", str(doc.metadata.get("file_name") or ident))[:60].strip("-.") or "doc"
    return f"{stem}-{hashlib.sha1(ident.encode()).hexdigest()[:10]}.txt"


def ingest_documents(assistant, documents, progress: bool | None = None):
    """Index llama-index ``Document``s from any reader, with citations as exact as for files.

    Each document's text is stored as a UTF-8 file under ``<index_dir>/documents/`` (a title and
    date from its metadata become a ``Title:``/``Date:`` header) and ingested like any file:
    ``Assistant.text_of(source)`` then serves the stored text that citations index into, and a
    document re-ingested with the same id and text costs nothing (the usual content hash).
    """
    import os
    from pathlib import Path

    folder = Path(assistant.settings.index_dir) / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in documents:
        meta = doc.metadata or {}
        header = "".join(
            f"{key.title()}: {' '.join(str(meta[key]).split())}\n" for key in ("title", "date") if meta.get(key)
        )
        text = (header + "\n" if header else "") + doc.text
        path = folder / _safe_name(doc)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        paths.append(str(path))
    return assistant.ingest(*paths, progress=progress) if paths else None
