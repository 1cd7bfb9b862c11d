"""The persistent lexical index (assistant/lexical.py): updates, persistence, scope, CJK, crashes."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import bm25s
import numpy as np

from assistant.lexical import LexicalIndex, index_terms
from assistant.question import lexical_terms

DOCS = [
    ("a1", "Title: Strikes | Source: NBC News\nThe strikes on Venezuela were not authorized by Congress.", "/d/a.txt"),
    ("a2", "Title: Strikes | Source: NBC News\nOfficials said more strikes could follow in the Caribbean.", "/d/a.txt"),
    ("b1", "Title: Bakery\nThe Van Aken bakery sells 4,180 loaves a week.", "/d/b.txt"),
    ("c1", "Title: Oil\nVenezuela's oil exports rose in October, the ministry said.", "/d/c.txt"),
]


def test_search_matches_bm25s_scores(tmp_path):
    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(DOCS)
    ref = bm25s.BM25()
    ref.index([lexical_terms(t) for _, t, _ in DOCS], show_progress=False)
    want = ref.get_scores(lexical_terms("strikes in Venezuela"))
    got = dict(ix.search("strikes in Venezuela", 10))
    assert list(got)[0] == "a1"
    for (cid, _, _), w in zip(DOCS, want):
        assert abs(got.get(cid, 0.0) - w) < 1e-5
    assert ix.scores("strikes in Venezuela", ["b1", "c1", "nope"]) == {"b1": 0.0, "c1": got["c1"], "nope": 0.0}
    assert ix.search("the of and", 5) == [] and ix.search("", 5) == []


def test_add_change_delete_and_reopen(tmp_path):
    path = tmp_path / "l.sqlite3"
    ix = LexicalIndex(path)
    ix.upsert(DOCS, marker="v1")
    assert len(ix) == 4 and ix.has_term("venezuela") and not ix.has_term("zeppelin")
    ix.upsert([("b1", "Title: Bakery\nThe zeppelin hangar reopened.", "/d/b.txt")])  # changed text, same id
    assert len(ix) == 4 and ix.search("loaves", 5) == [] and ix.search("zeppelin", 5)[0][0] == "b1"
    assert ix.delete(["a2", "missing"]) == 1
    assert ix.delete_source("/d/a.txt", keep=["a1"]) == 0
    ix.close()
    ix = LexicalIndex(path)  # persistence
    assert ix.ids() == {"a1", "b1", "c1"} and ix.marker() == "v1" and len(ix) == 3
    assert ix.document_frequency("strike") == 1 and ix.document_frequency("caribbean") == 0
    assert ix.delete_source("/d/a.txt") == 1 and ix.ids() == {"b1", "c1"}
    # statistics stay right after the changes: scores equal a fresh index of the same chunks
    fresh = LexicalIndex(tmp_path / "fresh.sqlite3")
    fresh.upsert([("b1", "Title: Bakery\nThe zeppelin hangar reopened.", "/d/b.txt"), DOCS[3]])
    assert ix.search("Venezuela oil zeppelin", 5) == fresh.search("Venezuela oil zeppelin", 5)


def test_sources_filter_keeps_whole_index_scores(tmp_path):
    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(DOCS)
    everywhere = dict(ix.search("Venezuela", 10))
    within = ix.search("Venezuela", 10, sources={"/d/c.txt"})
    assert [i for i, _ in within] == ["c1"] and within[0][1] == everywhere["c1"]
    assert ix.search("Venezuela", 10, sources=set()) == []
    assert ix.search("Venezuela", 10, sources={"/d/b.txt"}) == []
    assert ix.contains_all(["van", "aken"]) and not ix.contains_all(["aken", "venezuela"])
    assert not ix.contains_all(["van", "aken"], sources={"/d/a.txt"})
    assert ix.contains_all(index_terms("strikes Venezuela"), sources={"/d/a.txt"})


def test_chinese_text_is_searchable(tmp_path):
    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(
        DOCS
        + [
            ("z1", "标题：港口\n新的集装箱码头将于明年在宁波开放，预计每年处理三百万个集装箱。", "/d/z.txt"),
            ("z2", "标题：天气\n北京今天下雪了，气温降到零下五度。", "/d/w.txt"),
        ]
    )
    assert ix.search("宁波的集装箱码头什么时候开放？", 5)[0][0] == "z1"
    assert ix.search("北京下雪", 5)[0][0] == "z2"
    assert ix.has_term("宁波") and ix.contains_all(index_terms("宁波"))
    assert index_terms("Strikes in 北京") == ["strike", "北京"]
    assert index_terms("strikes and U.S. officials' comments") == lexical_terms("strikes and U.S. officials' comments")


def test_threads_read_while_one_writes(tmp_path):
    import threading

    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(DOCS)
    errors = []

    def read():
        try:
            for _ in range(50):
                assert ix.search("Venezuela", 3)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for i in range(50):
        ix.upsert([(f"n{i}", f"note {i} about Venezuela", "/d/n.txt")])
    for t in readers:
        t.join()
    assert not errors and len(ix) == 54


CHILD = textwrap.dedent("""
    import sys
    from assistant.lexical import LexicalIndex
    ix = LexicalIndex(sys.argv[1])
    batch = [(f"k{i:06d}", f"word{i % 97} kill test chunk number {i}", f"/k/{i // 20}.txt") for i in range(200000)]
    print("ready", flush=True)
    ix.upsert(batch, marker="never")  # killed in the middle of this one transaction
""")


def test_kill_9_in_a_batch_leaves_a_consistent_index(tmp_path):
    path = tmp_path / "l.sqlite3"
    ix = LexicalIndex(path)
    ix.upsert(DOCS, marker="v1")
    ix.close()
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(4.0)  # tokenizing and inserting 200k entries takes longer than this
    assert p.poll() is None, "the batch finished before the kill"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    ix = LexicalIndex(path)
    assert ix.ids() == {c for c, _, _ in DOCS} and ix.marker() == "v1" and len(ix) == 4
    assert ix.search("strikes Venezuela", 3)[0][0] == "a1"
    # reconcile to what a store says it holds: only the difference is written
    store = {c: (c, t, s) for c, t, s in DOCS if c != "a2"}
    store["e1"] = ("e1", "Title: Election\nTurnout was 61 percent.", "/d/e.txt")
    added, deleted = ix.reconcile(store, lambda ids: [store[i] for i in ids], marker="v2")
    assert (added, deleted) == (1, 1) and ix.ids() == set(store) and ix.marker() == "v2"
    assert ix.search("turnout", 3)[0][0] == "e1"
    assert ix.reconcile(store, lambda ids: [store[i] for i in ids], marker="v2") == (0, 0)
    assert np.isclose(dict(ix.search("Venezuela", 5))["c1"], ix.scores("Venezuela", ["c1"])["c1"])


def test_ingest_writes_the_index_and_a_reader_reconciles_only_the_difference(settings, shared_embedder, corpus):
    from assistant import lexical
    from assistant.ingest import ingest
    from assistant.retrieve import Retriever
    from assistant.store import Store

    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    path = os.path.join(settings.index_dir, "lexical.sqlite3")
    assert os.path.exists(path)
    ix = lexical.for_store(store)
    stored = {c.id for c in store.all_chunks()}
    assert ix.ids() == stored  # ingest wrote every chunk, in step with Chroma
    # A crash between Chroma's write and the index's: one chunk missing, one stale extra.
    gone = sorted(stored)[0]
    ix.delete([gone])
    ix.upsert([("stale", "zeppelin hangar", "/nowhere.txt")])
    r = Retriever(store, shared_embedder, settings)
    hits = r.search("strikes on Venezuela", 3)
    assert hits and ix.ids() == stored and ix.marker() == store.version()
    assert "zeppelin" not in " ".join(p.chunk.text for p in r.search("zeppelin hangar", 3))
    # Another file: ingest adds its chunks; the old version of a changed file goes
    (corpus / "z.txt").write_text("The zeppelin hangar in Friedrichshafen reopened for visitors.", encoding="utf-8")
    ingest([str(corpus)], Store(settings), shared_embedder, settings, progress=False)
    assert "zeppelin" in r.search("zeppelin hangar", 1)[0].chunk.text
    assert ix.ids() == {c.id for c in store.all_chunks()}
    (corpus / "z.txt").unlink()
    ingest([str(corpus)], Store(settings), shared_embedder, settings, progress=False)
    assert ix.ids() == stored


def test_each_collection_has_its_own_file(tmp_path):
    from assistant.lexical import index_path
    from assistant.settings import Settings

    s = Settings.load(index_dir=str(tmp_path / "index"))
    other = s.model_copy(update={"collection": "papers"})
    assert index_path(s, s.collection) == str(tmp_path / "index" / "lexical.sqlite3")
    assert index_path(other, other.collection) == str(tmp_path / "index" / "lexical-papers.sqlite3")
    served = s.model_copy(update={"chroma_url": "http://127.0.0.1:8000", "model_cache": str(tmp_path / "cache")})
    a, b = index_path(served, "documents"), index_path(served, "papers")
    assert a != b and a.startswith(str(tmp_path / "cache" / "lexical"))


# --------------------------------------------------------------------------- CJK terms, English unchanged


def _terms_before_cjk(text):
    """The tokenizer as it was before CJK support (retrieve.lexical_terms until then): the reference."""
    import Stemmer

    from assistant.text import STOPWORDS, words

    return Stemmer.Stemmer("english").stemWords([w for w in words(text) if w not in STOPWORDS])


ENGLISH = [
    "Don't panic: the U.S. Senate voted 52-48 on Jan. 3, 2024, after a night's debate.",
    "The company's Q3 revenue rose 4.5% to $1,234.56 million, beating forecasts of 4,180.",
    "Ph.D. students at M.I.T. (and, e.g., Caltech) weren't told until 9:30 a.m. on Oct. 19th.",
    "E-mail jane.doe@example.com or visit https://example.org/a_b?c=d#e for the full report.",
    "Nicolás Maduro met Zoë Saldaña and Søren Kierkegaard's translator in São Paulo.",
    "It’s O’Neill’s rock ’n’ roll band, isn’t it? They’ve played 1,000 shows since the 1990s.",
    "x86_64, COVID-19, GPT-3.5, 3D printing, 24/7 support and the A380 are all terms here.",
    "The ratio was 3:2; the vote, 7–2 — a landslide by anyone's standards.",
    "Ångström units, a façade, naïve coöperation and a résumé walk into a café.",
    "snake_case_names, CamelCaseNames, kebab-case-names and __dunder__ methods are words too.",
    "Fullwidth ＡＢＣ１２３ and ｆｕｌｌｗｉｄｔｈ letters, and the dot ・ or brackets 「」、。 are not CJK letters.",
    "Emoji 🚀 and symbols ©®™ § ¶ † ‡ • are not words, nor are *** or ---.",
    "Circled ①②③, superscripts x² y³ and fractions ½ ¾ sit beside Roman numerals Ⅻ.",
    "Ελληνικά: η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "Москва — столица России, сказал он в понедельник.",
    "القاهرة هي عاصمة مصر وأكبر مدنها",
    "עברית: ירושלים היא עיר הבירה",
    "ภาษาไทย กรุงเทพมหานครเป็นเมืองหลวง",
    "हिन्दी: नई दिल्ली भारत की राजधानी है।",
    "Mr. and Mrs. Smith arrived at 10 p.m.; Dr. Jones left at 6 a.m. sharp.",
    "Prices fell 12.5 per cent in the U.K. and 3 percent in the E.U. last year.",
    "She said: “We’ll see what happens.” He replied, ‘Not today.’",
    "The strikes—potentially including drone attacks—were not authorized by Congress.",
    "Is the bridge open? Yes! Was it closed?! No... not since 2019.",
    "ALL CAPS HEADLINES SHOUT, lower-case whispers, Title Case Sits In Between.",
    "Tabs\tand\nnewlines\r\nand  double  spaces   separate words as well.",
    "Numbers like 1e10, 0x1F, 3.14159, -42, +7 and 1/2 are tokenized by the same rule.",
    "A 1,600-word essay, a 20-year-old driver and a two-thirds majority were mentioned.",
    "The Van Aken bakery sells 4,180 loaves a week, its owner's ledger shows.",
    "Hyphenated names such as Jean-Luc Picard and Bankman-Fried keep their parts.",
]
SUBJECTS = [
    "The town council",
    "Officials in Caracas",
    "A spokesperson for the ministry",
    "Engineers at the plant",
    "The Federal Reserve",
    "Three senior analysts",
    "Our correspondent",
    "The company's chief executive",
    "Local farmers",
    "The U.N. envoy",
    "Researchers from Oxford",
    "The striking workers",
    "Investors in New York",
    "The mayor's office",
    "Several witnesses",
    "Nurses at St. Mary's hospital",
    "The E.U.'s trade commissioner",
]
PREDICATES = [
    "said on Monday that the vote would be delayed until April",
    "denied reports of a 3 million dollar settlement",
    "warned that interest rates could rise again next year",
    "announced plans to build 2,400 homes by 2027",
    "were not authorized to comment on the ongoing investigation",
    "have been running tests since the early hours of the morning",
    "described the proposal as 'unworkable' and 'deeply flawed'",
    "agreed to pay half of the repair bill for the footpath",
    "confirmed that the bridge can stay open to cars during repairs",
    "is expected to publish its findings in the autumn",
    "cited rising costs, staff shortages and supply-chain delays",
    "didn't respond to several requests for comment",
    "praised the volunteers who'd worked through the night",
    "questioned whether the figures, released at 5 p.m., were accurate",
]


def _english_sentences():
    from conftest import SEED_FILE

    from assistant.text import sentences

    seed = SEED_FILE.read_text(encoding="utf-8")
    made = [f"{s} {p}." for s in SUBJECTS for p in PREDICATES]
    return ENGLISH + made + [seed[sp.start : sp.end] for sp in sentences(seed)]


def test_terms_of_text_without_cjk_characters_are_exactly_as_before():
    from assistant.lexical import _CJK

    # "・" lies in the katakana block but is no word's letter: that sentence takes the slow path, same terms
    texts = _english_sentences()
    assert len(texts) > 250 and not any(_CJK.search(w) for t in texts for w in re.findall(r"\w+", t))
    for text in texts + [" ".join(texts)]:
        want = _terms_before_cjk(text)
        assert lexical_terms(text) == want, text
        assert index_terms(text) == want, text


def test_terms_of_the_evaluation_corpora_are_exactly_as_before():
    """The team's evaluation figures rest on these terms: every corpus file without CJK text."""
    import pytest
    from conftest import SHARED

    from assistant.lexical import _CJK

    files = sorted((SHARED / "eval").glob("*/corpus/*.txt"))
    if not files:
        pytest.skip("the shared evaluation corpora are not here")
    checked = 0
    for f in files:
        text = f.read_text(encoding="utf-8")
        if not _CJK.search(text):
            assert lexical_terms(text) == index_terms(text) == _terms_before_cjk(text), f.name
            checked += 1
    assert checked >= 0.9 * len(files)


def test_cjk_runs_become_bigrams_for_questions_and_passages_alike():
    q = lexical_terms("比特币的发行总量是多少？")
    assert q == ["比特", "特币", "币的", "的发", "发行", "行总", "总量", "量是", "是多", "多少"] and q == index_terms(
        "比特币的发行总量是多少？"
    )
    passage = set(lexical_terms("比特币的发行总量为2100万枚，大约每四年减半一次。"))
    assert {"发行", "总量", "2100", "万枚"} <= passage and len(set(q) & passage) / len(set(q)) >= 0.5
    assert lexical_terms("東京では桜が開花します") == [
        "東京",
        "京で",
        "では",
        "は桜",
        "桜が",
        "が開",
        "開花",
        "花し",
        "しま",
        "ます",
    ]
    assert lexical_terms("부산항은 매년") == ["부산", "산항", "항은", "매년"]
    assert lexical_terms("The iPhone手机 sold 2100万 units") == [
        "iphon",
        "手机",
        "sold",
        "2100",
        "万",
        "unit",
    ]  # text order
    assert lexical_terms("ｶﾀｶﾅ") == lexical_terms("カタカナ") == ["カタ", "タカ", "カナ"]  # NFKC: halfwidth kana
    assert lexical_terms("人々") == ["人々"] and lexical_terms("中") == ["中"]


def _downgrade(path, rows):
    """Make an index look written by the tokenizer before CJK support: no stamp, rows' old terms."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("DELETE FROM meta WHERE key = 'tokenizer'")
    for cid, text in rows.items():
        (rowid,) = db.execute("SELECT rowid FROM chunks WHERE id = ?", (cid,)).fetchone()
        db.execute("UPDATE fts SET terms = ? WHERE rowid = ?", (" ".join(_terms_before_cjk(text)), rowid))
    db.commit()
    db.close()


def test_an_index_of_an_older_tokenizer_redoes_only_its_cjk_chunks(tmp_path):
    from assistant.lexical import TOKENIZER

    zh = ("z1", "标题：比特币\n比特币的发行总量为2100万枚。", "/d/z.txt")
    path = str(tmp_path / "l.sqlite3")
    ix = LexicalIndex(path)
    ix.upsert(DOCS + [zh], marker="v1")
    english_rows = dict(ix._db().execute("SELECT id, rowid FROM chunks WHERE id != 'z1'").fetchall())
    english_scores = ix.search("strikes in Venezuela", 5)
    ix.close()
    _downgrade(path, {"z1": zh[1]})
    old = LexicalIndex(path)
    assert old.search("发行总量", 3) == []  # the whole-run terms of before: a phrase matched nothing
    old.close()
    _downgrade(path, {})

    ix = LexicalIndex(path)  # opening brings it up to date: the CJK chunk goes, the marker with it
    assert ix.ids() == set(english_rows) and ix.marker() is None and len(ix) == 4
    assert dict(ix._db().execute("SELECT id, rowid FROM chunks").fetchall()) == english_rows  # English rows untouched
    assert ix._db().execute("SELECT value FROM meta WHERE key = 'tokenizer'").fetchone()[0] == TOKENIZER
    store = {c: (c, t, s) for c, t, s in DOCS + [zh]}
    assert ix.reconcile(store, lambda ids: [store[i] for i in ids], marker="v1") == (1, 0)  # what a reader does
    assert ix.search("发行总量", 3)[0][0] == "z1" and ix.search("strikes in Venezuela", 5) == english_scores
    ix.close()
    assert LexicalIndex(path).marker() == "v1"  # stamped: the next open changes nothing

    en = str(tmp_path / "en.sqlite3")  # an English index: stamped, nothing dropped, the marker kept
    ix = LexicalIndex(en)
    ix.upsert(DOCS, marker="v7")
    before = ix.search("strikes in Venezuela", 5)
    ix.close()
    _downgrade(en, {})
    ix = LexicalIndex(en)
    assert ix.marker() == "v7" and len(ix) == 4 and ix.search("strikes in Venezuela", 5) == before


def test_a_reader_brings_an_older_index_up_to_date_without_re_embedding(settings, shared_embedder, corpus):
    from assistant import lexical
    from assistant.ingest import ingest
    from assistant.retrieve import Retriever
    from assistant.store import Store

    text = "比特币是一种数字货币。比特币的发行总量为2100万枚，大约每四年减半一次。"
    (corpus / "zh.txt").write_text(text, encoding="utf-8")
    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    ix = lexical.for_store(store)
    (zh_id,) = [c.id for c in store.all_chunks() if c.source.endswith("zh.txt")]
    zh = next(c for c in store.all_chunks() if c.id == zh_id)
    rows = dict(ix._db().execute("SELECT id, rowid FROM chunks WHERE id != ?", (zh_id,)).fetchall())
    path = ix.path
    ix.close()
    lexical._OPEN.clear()  # as a new process would
    _downgrade(path, {zh_id: zh.context + "\n" + zh.text})

    class Counting:  # the embedder, counting what it is asked to embed
        def __init__(self):
            self.texts = []

        def embed(self, texts, batch_size=32):
            self.texts += list(texts)
            return shared_embedder.embed(texts, batch_size)

    embedder = Counting()
    r = Retriever(Store(settings), embedder, settings)
    top = r.search("发行总量", 3)[0]
    assert top.chunk.id == zh_id and top.lexical > 0
    ix = lexical.for_store(r.store)
    assert ix.ids() == {c.id for c in store.all_chunks()} and ix.marker() == r.store.version()
    assert {k: v for k, v in ix._db().execute("SELECT id, rowid FROM chunks").fetchall() if k != zh_id} == rows
    assert set(embedder.texts) == {"发行总量"}  # only the query was embedded: no chunk re-embedded
