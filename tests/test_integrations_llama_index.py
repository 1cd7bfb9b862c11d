"""The llama-index retriever, query engine and chat engine over a real Assistant.

The mapping tests use a scripted stand-in for the Assistant (no model at all) so that every
field, the streaming fill-in and the history handling are checked in milliseconds; the rest use
the real embedder and Chroma, and four real answers from the embedded LLM.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import SEED_FILE, SEED_QUESTION
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.chat_engine.types import AgentChatResponse, BaseChatEngine, StreamingAgentChatResponse

from assistant import Assistant
from assistant.answer import Event
from assistant.integrations.llama_index import AssistantChatEngine, AssistantQueryEngine, AssistantRetriever
from assistant.schema import Answer, Chunk, Citation, Passage

METADATA_KEYS = {"refused", "citations", "removed_claims"}


def exact_node(nws) -> bool:
    n = nws.node
    return Assistant.text_of(n.metadata["source"])[n.start_char_idx : n.end_char_idx] == n.text


# -- the mapping, with a scripted Assistant ----------------------------------------------------
class ScriptedAssistant:
    """Plays back one fixed answer through the Assistant's ``search``/``stream`` interface."""

    text_of = staticmethod(Assistant.text_of)

    def __init__(self):
        self.source = str(SEED_FILE)
        text = Assistant.text_of(self.source)
        quotes = ["have not been authorized by President Donald Trump", "four sources who spoke with NBC News"]
        spans = [(text.index(q), text.index(q) + len(q)) for q in quotes]
        self.citations = [
            Citation(
                n=i + 1,
                source=self.source,
                title="Seed",
                date="2025-10-01",
                start=s,
                end=e,
                quote=text[s:e],
                score=0.9 - i / 10,
            )
            for i, (s, e) in enumerate(spans)
        ]
        self.chunk = Chunk(
            id="c0",
            source=self.source,
            title="Seed",
            date="2025-10-01",
            doc_hash="h",
            start=0,
            end=300,
            text=text[:300],
        )
        self.pieces = ["No, the strikes have not been authorized [1].", " Four sources said so [2]."]
        self.calls: list[tuple[str, list]] = []
        self.closed = 0

    def search(self, query, k=None):
        return [Passage(self.chunk, 0.5)]

    def stream(self, question, history=None):
        self.calls.append((question, list(history or [])))
        try:
            yield Event("passages", [Passage(self.chunk, 0.5)])
            for piece in self.pieces:
                yield Event("text", piece)
            yield Event(
                "answer",
                Answer(
                    question=question,
                    answer="".join(self.pieces),
                    refused=False,
                    citations=self.citations,
                    removed_claims=["Trump approved it [3]."],
                    standalone_question="rewritten" if history else None,
                    timings={"total_s": 1.0},
                ),
            )
        finally:
            self.closed += 1


def test_query_engine_maps_citations_to_nodes_and_metadata():
    fake = ScriptedAssistant()
    engine = AssistantQueryEngine(fake)
    assert isinstance(engine, BaseQueryEngine) and engine.get_prompts() == {}
    r = engine.query("Has Trump authorized the strikes?")
    assert isinstance(r, Response) and r.response == "".join(fake.pieces)
    assert [s.node.metadata["n"] for s in r.source_nodes] == [1, 2]  # one node per citation, nothing else
    for s, c in zip(r.source_nodes, fake.citations):
        assert s.node.text == c.quote and (s.node.start_char_idx, s.node.end_char_idx) == (c.start, c.end)
        assert s.node.metadata == {"n": c.n, "source": c.source, "title": c.title, "date": c.date}
        assert s.node.ref_doc_id == c.source and s.score == c.score and exact_node(s)
    assert METADATA_KEYS <= set(r.metadata) and r.metadata["refused"] is False
    assert r.metadata["citations"] == [c.to_dict() for c in fake.citations]
    assert r.metadata["removed_claims"] == ["Trump approved it [3]."]


def test_streaming_response_fills_sources_when_the_stream_ends():
    fake = ScriptedAssistant()
    r = AssistantQueryEngine(fake, streaming=True).query("Has Trump authorized the strikes?")
    assert isinstance(r, StreamingResponse) and r.source_nodes == [] and r.metadata == {}  # caveat: not yet
    assert list(r.response_gen) == fake.pieces
    assert len(r.source_nodes) == 2 and r.metadata["refused"] is False and fake.closed == 1
    assert str(r) == "".join(fake.pieces) and r.get_response().source_nodes == r.source_nodes


def test_stopping_a_stream_early_closes_the_assistant_stream():
    fake = ScriptedAssistant()
    r = AssistantQueryEngine(fake, streaming=True).query("q")
    assert next(r.response_gen) == fake.pieces[0]
    r.response_gen.close()
    assert fake.closed == 1 and r.source_nodes == []


def test_async_query_and_async_streaming():
    fake = ScriptedAssistant()

    async def main():
        r = await AssistantQueryEngine(fake).aquery("q")
        s = await AssistantQueryEngine(fake, streaming=True).aquery("q")
        assert isinstance(s, AsyncStreamingResponse)
        text = "".join([t async for t in s.async_response_gen()])
        return r, s, text

    r, s, text = asyncio.run(main())
    assert isinstance(r, Response) and len(r.source_nodes) == 2
    assert text == r.response == s.response_txt and len(s.source_nodes) == 2 and s.metadata["refused"] is False


def test_retriever_maps_chunks_to_nodes():
    fake = ScriptedAssistant()
    retriever = AssistantRetriever(fake)
    assert isinstance(retriever, BaseRetriever)
    (n,) = retriever.retrieve("strikes")
    assert (n.node.node_id, n.node.text, n.score) == ("c0", fake.chunk.text, 0.5)
    assert n.node.metadata == {"source": fake.source, "title": "Seed", "date": "2025-10-01"} and exact_node(n)
    fake.chunk.page, fake.chunk.section = 3, "Background"  # set for PDFs and headed documents
    assert {"page": 3, "section": "Background"}.items() <= retriever.retrieve("strikes")[0].node.metadata.items()
    assert len(asyncio.run(retriever.aretrieve("strikes"))) == 1


def test_chat_engine_keeps_history_and_passes_it_to_stream():
    fake = ScriptedAssistant()
    engine = AssistantChatEngine(fake)
    assert isinstance(engine, BaseChatEngine)
    first = engine.chat("What is planned?")
    assert isinstance(first, AgentChatResponse) and first.response == "".join(fake.pieces)
    assert len(first.source_nodes) == 2 and first.metadata["refused"] is False
    assert first.sources[0].tool_name == "assistant" and first.sources[0].raw_output.source_nodes
    second = engine.stream_chat("Has he approved them?")
    assert isinstance(second, StreamingAgentChatResponse) and not second.source_nodes
    assert fake.calls[-1] == ("Has he approved them?", [("What is planned?", first.response)])
    assert "".join(second.response_gen) == first.response == str(second)
    assert len(second.source_nodes) == 2 and second.metadata["standalone_question"] == "rewritten"
    assert [m.role for m in engine.chat_history] == [MessageRole.USER, MessageRole.ASSISTANT] * 2
    assert engine.chat_history[2].content == "Has he approved them?"
    # a given chat_history replaces the engine's; system messages and unanswered questions drop out
    given = [
        ChatMessage(role=MessageRole.SYSTEM, content="be brief"),
        ChatMessage(role=MessageRole.USER, content="a?"),
        ChatMessage(role=MessageRole.ASSISTANT, content="A."),
        ChatMessage(role=MessageRole.USER, content="b?"),
    ]
    asyncio.run(engine.achat("c?", chat_history=given))
    assert fake.calls[-1] == ("c?", [("a?", "A.")]) and len(engine.chat_history) == 4
    engine.reset()
    assert engine.chat_history == []

    async def stream():
        r = await engine.astream_chat("d?")
        return r, "".join([t async for t in r.async_response_gen()])

    r, text = asyncio.run(stream())
    assert text == first.response and len(r.source_nodes) == 2 and len(engine.chat_history) == 2


# -- the real thing ------------------------------------------------------------------------------
def test_retriever_nodes_are_exact_slices_of_the_document(seed_assistant):
    nodes = seed_assistant.as_retriever(k=3).retrieve("Has the president approved the strikes?")
    assert 0 < len(nodes) <= 3
    assert all(exact_node(n) for n in nodes)
    assert all(n.node.metadata["title"] and n.node.metadata["date"] for n in nodes)
    assert any("authoriz" in n.node.text or "approval" in n.node.text for n in nodes)


@pytest.mark.llm
def test_query_engine_answers_the_seed_question(seed_assistant):
    r = seed_assistant.as_query_engine().query(SEED_QUESTION)
    assert isinstance(r, Response) and not r.metadata["refused"], r.response
    assert METADATA_KEYS <= set(r.metadata) and r.source_nodes
    assert all(n.node.start_char_idx is not None and exact_node(n) for n in r.source_nodes)
    assert [n.node.metadata["n"] for n in r.source_nodes] == [c["n"] for c in r.metadata["citations"]]
    assert "[1]" in r.response


@pytest.mark.llm
def test_streaming_query_engine_text_equals_the_final_answer(seed_assistant):
    r = seed_assistant.as_query_engine(streaming=True).query(SEED_QUESTION)
    assert isinstance(r, StreamingResponse)
    text = "".join(r.response_gen)
    assert text == r.response_txt and not r.metadata["refused"], text
    assert r.source_nodes and all(exact_node(n) for n in r.source_nodes)
    assert METADATA_KEYS <= set(r.metadata)


@pytest.mark.llm
def test_chat_engine_two_turns_with_a_pronoun(seed_assistant):
    engine = seed_assistant.as_chat_engine()
    first = engine.chat("What has the US military been drafting?")
    assert not first.metadata["refused"] and "strike" in first.response.lower(), first.response
    second = engine.stream_chat("Has the president approved them?")
    text = "".join(second.response_gen)
    assert text.strip() == second.response and second.metadata["standalone_question"]
    assert second.metadata["standalone_question"] != "Has the president approved them?"
    assert second.metadata["refused"] or (second.source_nodes and all(exact_node(n) for n in second.source_nodes))
    assert len(engine.chat_history) == 4 and engine.chat_history[3].content == second.response


# --------------------------------------------------------------------------- llama-index models and documents in


def _st_embedding():
    """A llama-index BaseEmbedding over the packaged MiniLM: a real model reached through llama-index."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from sentence_transformers import SentenceTransformer

    from assistant.models import embedding_model_path
    from assistant.settings import Settings

    model = SentenceTransformer(embedding_model_path(Settings.load()), device="cpu")

    class MiniLM(BaseEmbedding):
        def _get_text_embedding(self, text):
            return model.encode(text).tolist()

        def _get_query_embedding(self, query):
            return model.encode(query).tolist()

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    return MiniLM(model_name="minilm-through-llama-index")


def test_llama_index_documents_are_ingested_and_cited_exactly(tmp_path, shared_embedder):
    from llama_index.core import Document

    from assistant.settings import Settings

    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    docs = [
        Document(
            text="The Quillmore lamp uses a G9 bulb and draws 25 watts.",
            doc_id="lamp-1",
            metadata={"title": "Quillmore lamp manual", "file_name": "lamp.pdf"},
        ),
        Document(text="The Ostrava footbridge is 212 meters long.", doc_id="bridge-7"),
    ]
    report = a.ingest_documents(docs)
    assert len(report.added) == 2
    assert not a.ingest_documents(docs).added  # same ids and texts: nothing re-embedded
    [hit] = [p for p in a.search("Which bulb does the Quillmore lamp use?", 3) if "G9" in p.chunk.text][:1]
    assert hit.chunk.title == "Quillmore lamp manual"
    assert Assistant.text_of(hit.chunk.source)[hit.chunk.start : hit.chunk.end] == hit.chunk.text


def test_a_llama_index_embedding_model_is_the_embedder(tmp_path):
    from assistant.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bridge.txt").write_text("The Ostrava footbridge is 212 meters long and opened in 2019.\n")
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")), embed_model=_st_embedding())
    a.ingest(str(docs))
    assert a.search("How long is the footbridge?", 1)[0].chunk.source.endswith("bridge.txt")
    # The same model by the settings' route is recognised as the same (its fingerprint matches).
    assert Assistant(Settings.load(index_dir=str(tmp_path / "index"))).search("footbridge", 1)


@pytest.mark.llm
def test_a_llama_index_llm_answers(tmp_path, shared_embedder):
    from llama_index.llms.openai_like import OpenAILike
    from test_faults import LLMServer

    from assistant.models import tiny_llm_path
    from assistant.settings import Settings

    server = LLMServer(tiny_llm_path(), tmp_path).start()
    try:
        llm = OpenAILike(model="tiny", api_base=server.url, api_key="x", is_chat_model=True, max_tokens=48)
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "bridge.txt").write_text("The Ostrava footbridge is 212 meters long and opened in 2019.\n")
        a = Assistant(Settings.load(index_dir=str(tmp_path / "index")), llm=llm)
        a.embedder = shared_embedder
        a.ingest(str(docs))
        answer = a.ask("How long is the Ostrava footbridge?")
        assert answer.answer.strip() and isinstance(answer.refused, bool)
        assert all(Assistant.text_of(c.source)[c.start : c.end] == c.quote for c in answer.citations)
        assert answer.checks or answer.refused  # the judge ran through the llama-index LLM, or it refused
    finally:
        server.stop()
