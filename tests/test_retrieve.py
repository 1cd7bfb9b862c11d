"""Hybrid retrieval over the real embedder and Chroma."""

import re

import pytest

from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.store import Store


@pytest.fixture
def retriever(settings, shared_embedder, corpus):
    (corpus / "bakery.md").write_text(
        "# Bakery news\n\nThe Van Aken bakery sells 4,180 loaves a week.\n\n"
        "Its owner says slow fermentation gives the bread a deeper flavour.\n",
        encoding="utf-8",
    )
    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    return Retriever(store, shared_embedder, settings)


def test_a_name_finds_its_paragraph(retriever):
    top = retriever.search("What did Sanchez Ismayel say?", 3)
    assert "Sanchez Ismayel" in top[0].chunk.text
    assert top[0].lexical > 0 and top[0].dense is not None


def test_a_number_is_found_lexically(retriever):
    top = retriever.search("4,180", 2)
    assert "4,180" in top[0].chunk.text


def test_a_paraphrase_is_found_densely(retriever):
    top = retriever.search("why does long proofing make bread tastier", 2)
    assert "fermentation" in top[0].chunk.text


def test_scores_are_ranked_and_k_is_respected(retriever):
    got = retriever.search("strikes on Venezuela", 3)
    assert len(got) == 3
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)


def test_another_writer_is_seen_without_restart(retriever, settings, shared_embedder, tmp_path):
    assert "zeppelin" not in " ".join(p.chunk.text for p in retriever.search("zeppelin hangar", 5))
    d = tmp_path / "late"
    d.mkdir()
    (d / "z.txt").write_text("The zeppelin hangar in Friedrichshafen reopened for visitors.", encoding="utf-8")
    ingest([str(d)], Store(settings), shared_embedder, settings, progress=False)  # a second client
    assert "zeppelin" in retriever.search("zeppelin hangar", 1)[0].chunk.text


def test_names_no_document_mentions_are_reported(retriever):
    assert retriever.unknown_names("Has Trump authorized the strikes?") == []
    assert retriever.unknown_names("What does NBC News report about Venezuela?") == []
    assert retriever.unknown_names("Has the U. S. military approved strikes in Venezuela?") == []
    assert retriever.unknown_names("What did Angela Merkel say about the strikes?") == ["Angela Merkel"]
    assert retriever.unknown_names("Does the Van Aken bakery sell bread?") == []
    # each word is in some document, but no chunk has both: nobody is called "Aken Trump"
    assert retriever.unknown_names("What did Aken Trump say?") == ["Aken Trump"]


# --------------------------------------------------------------------------- scope (docs=)
# Three small documents written for these tests: "beta/" must not include "betamax.txt".
LIGHTHOUSE = """Title: Gannet Point lighthouse gets a new lens
Source: Coast Weekly

The Gannet Point lighthouse was fitted with a new Fresnel lens in May. The keeper, Ilse Marrow, said the beam now reaches 22 nautical miles. The old lens went to the maritime museum in Port Ellery.
"""
ORCHARD = """Title: Quince harvest at Hollowbrook orchard
Source: Valley Post

Hollowbrook orchard picked 9 tonnes of quince this autumn. The growers said a dry summer made the fruit small but sweet. Most of the harvest is sold as jelly at the Saturday market.
"""
TAPES = """Title: Library digitizes old tapes

The town library digitized 300 Betamax tapes of council meetings from the 1980s.
"""


@pytest.fixture
def scoped(settings, shared_embedder, tmp_path):
    root = tmp_path / "scope"
    for rel, text in (("alpha/lighthouse.txt", LIGHTHOUSE), ("beta/orchard.txt", ORCHARD), ("betamax.txt", TAPES)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    store = Store(settings)
    ingest([str(root)], store, shared_embedder, settings, progress=False)
    files = {
        name: str(root / rel)
        for name, rel in (("a", "alpha/lighthouse.txt"), ("b", "beta/orchard.txt"), ("tapes", "betamax.txt"))
    }
    return Retriever(store, shared_embedder, settings), root, files


def test_a_scope_limits_both_legs_to_its_documents(scoped):
    r, _, f = scoped
    q = "How far does the beam of the Gannet Point lighthouse reach?"
    assert r.search(q, 3)[0].chunk.source == f["a"]  # unscoped, the lighthouse answers
    got = r.search(q, 3, docs=[f["b"]])
    assert got and {p.chunk.source for p in got} == {f["b"]}
    # the dense leg asks Chroma for neighbours within the scope (not the top k, then filtered) ...
    vec = r.embedder.embed([q])[0]
    within = r.store.nearest_within([list(map(float, vec))], 5, [f["b"]])[0]
    snap = r.snapshot()
    assert within and all(snap.chunks[snap.pos[i]].source == f["b"] for i in within)
    # ... and the same in batches, for scopes longer than one $in filter may be
    import assistant.store as store_module

    both = r.store.nearest_within([list(map(float, vec))], 5, [f["a"], f["b"]])[0]
    store_module.IN_BATCH, old = 1, store_module.IN_BATCH
    try:
        assert r.store.nearest_within([list(map(float, vec))], 5, [f["a"], f["b"]])[0] == both
    finally:
        store_module.IN_BATCH = old
    # the lexical leg: words only the lighthouse has find nothing of it within the orchard
    assert all(p.chunk.source == f["b"] for p in r.search("Fresnel lens Ilse Marrow", 5, docs=[f["b"]]))


def test_a_folder_scope_is_every_document_under_it(scoped):
    r, root, f = scoped
    assert r.resolve([str(root / "beta")]) == [f["b"]]  # not betamax.txt beside it
    assert r.resolve([str(root)]) == sorted(f.values())
    assert r.resolve([str(root / "alpha") + "/", f["tapes"]]) == sorted([f["a"], f["tapes"]])
    got = r.search("tapes of council meetings", 5, docs=r.resolve([str(root / "beta")]))
    assert got and {p.chunk.source for p in got} == {f["b"]}


def test_a_scope_matching_no_indexed_document_is_an_error(scoped):
    from assistant.errors import InputError

    r, root, _ = scoped
    with pytest.raises(InputError, match=r"nowhere\.txt.*assistant documents"):
        r.resolve([str(root / "nowhere.txt")])
    with pytest.raises(InputError, match="bet"):
        r.resolve([str(root / "bet")])  # a prefix of a name is not a folder


def test_names_and_outlets_are_looked_up_within_the_scope(scoped):
    r, _, f = scoped
    assert r.unknown_names("What did Ilse Marrow say?") == []
    assert r.unknown_names("What did Ilse Marrow say?", docs=[f["b"]]) == ["Ilse Marrow"]
    assert r.sources_named("What does Coast Weekly report?") == {f["a"]}
    assert r.sources_named("What does Coast Weekly report?", docs=[f["b"]]) is None
    view = r.scoped([f["b"]])
    assert view.unknown_names("What did Ilse Marrow say?") == ["Ilse Marrow"]
    assert {p.chunk.source for p in view.search("lighthouse lens", 3)} == {f["b"]}


# --------------------------------------------------------------------------- Chinese and Japanese text
# Documents written for these tests: two Chinese ones (so the lexical leg has to tell them apart),
# one Japanese, beside the English seed article.
BITCOIN_ZH = """标题：比特币的发行

比特币是一种去中心化的数字货币，由中本聪在2008年提出。比特币的发行总量为2100万枚，大约每四年减半一次。矿工通过工作量证明获得新发行的比特币。
"""
HARBOUR_ZH = """标题：港口的新码头

新的集装箱码头将于明年开放，预计每年处理三百万个集装箱。市政府表示，码头的建设费用由港务局承担。
"""
SAKURA_JA = """タイトル：東京の桜

東京では毎年三月下旬に桜が開花します。上野公園には約八百本の桜があり、花見客でにぎわいます。
"""


@pytest.fixture
def cjk(settings, shared_embedder, corpus):
    from assistant import Assistant

    for name, text in (("bitcoin.txt", BITCOIN_ZH), ("harbour.txt", HARBOUR_ZH), ("sakura.txt", SAKURA_JA)):
        (corpus / name).write_text(text, encoding="utf-8")
    a = Assistant(settings)
    a.embedder = shared_embedder
    a.ingest(str(corpus), progress=False)
    return a, corpus


@pytest.mark.parametrize(
    "question, doc",
    [
        ("比特币的发行总量是多少？", "bitcoin.txt"),
        ("发行总量", "bitcoin.txt"),
        ("上野公園には桜が何本ありますか？", "sakura.txt"),
    ],
)
def test_a_chinese_or_japanese_question_ranks_its_passage_first_by_its_terms(cjk, question, doc):
    a, corpus = cjk
    got = a.search(question, k=5)
    top = got[0]
    assert top.chunk.source == str(corpus / doc)
    assert top.lexical > 0 and all(p.lexical < top.lexical for p in got[1:])  # the lexical leg decides
    lex = a.retriever.lexical_index()
    assert lex.search(question, 1)[0][0] == top.chunk.id


def test_a_chinese_question_passes_the_evidence_gate_on_its_terms(cjk, settings, monkeypatch):
    """Coverage alone (dense similarity made unable to count) lets the question reach the LLM."""
    from test_answer import ScriptedLLM

    from assistant import answer
    from assistant.answer import Answerer, coverage

    a, corpus = cjk
    monkeypatch.setattr(answer, "MIN_DENSE", 1.01)
    q = "比特币的发行总量是多少？"
    top = a.search(q, k=5)[0]
    assert coverage(q, top) >= answer.MIN_COVERAGE

    class CitesTheFigure(ScriptedLLM):
        """Cites whichever numbered source holds the figure: sentences end at 。, so it is one of several."""

        def stream(self, messages, **kw):
            n = re.search(r"\[(\d+)\][^\n]*2100", messages[-1]["content"])[1]
            self.draft = f"比特币的发行总量为2100万枚 [{n}]。"
            return super().stream(messages, **kw)

    llm = CitesTheFigure("")
    events = list(Answerer(a.retriever, lambda: llm, settings).stream(q))
    result = events[-1].data
    assert llm.calls and llm.judged  # past the evidence gate: drafted and judged
    assert not result.refused and {c.source for c in result.citations} == {str(corpus / "bitcoin.txt")}
    quote = result.citations[0].quote
    assert "2100" in quote and quote.endswith("。") and "中本聪在2008年" not in quote  # that sentence, not the chunk
    # a Chinese question about what no document says is still refused before the LLM
    llm = ScriptedLLM("火星的首都是奥林匹斯 [1]。")
    result = list(Answerer(a.retriever, lambda: llm, settings).stream("火星的首都是哪里？"))[-1].data
    assert result.refused and not llm.calls
