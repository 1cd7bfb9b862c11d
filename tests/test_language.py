"""Questions in other languages: detection, the localized reply, and a real Spanish question end to end."""

from __future__ import annotations

import pytest

from assistant import phrases
from assistant.language import detect, reply
from assistant.schema import Answer

FERRY = (
    "Title: Harbour notice\n\nThe first ferry to Holmsund leaves at 06:40 from pier two. "
    "The harbour master has approved a second daily sailing, which starts in May.\n"
)


@pytest.mark.parametrize(
    "question,lang",
    [
        ("¿A qué hora sale el primer ferry?", "es"),
        ("À quelle heure part le premier ferry ?", "fr"),
        ("Wann fährt die erste Fähre ab?", "de"),
        ("第一班渡轮几点出发？", "zh"),
        ("最初のフェリーは何時に出ますか？", "ja"),
        ("Когда отправляется первый паром?", "ru"),
        ("When does the first ferry leave?", "en"),
        ("Holmsund?", "en"),  # too little to tell: the pipeline's own language
    ],
)
def test_detect(question, lang):
    assert detect(question) == lang


class Translator:
    """A stand-in LLM that 'translates' by tagging the text; optionally drops citation markers."""

    def __init__(self, drop_markers=False):
        self.drop_markers, self.calls = drop_markers, []

    def complete(self, messages, **kw):
        text = messages[-1]["content"]
        self.calls.append(text)
        return "ES<" + (phrases.CITATION_RE.sub("", text) if self.drop_markers else text) + ">"


def test_reply_keeps_quotes_verbatim_and_translates_the_rest():
    quoted = f'{phrases.NOT_STATED} "Harbour notice" {phrases.SAYS} "The ferry leaves at 06:40." [1].'
    free = "The second sailing starts in May [2]."
    answer = Answer(question="q", answer=f"{quoted} {free}", refused=False)
    llm = Translator()
    text = reply(llm, answer, "es", [quoted, free])
    assert text.startswith(phrases.LOCALIZED["es"]["not_stated"])
    assert '"Harbour notice" dice: "The ferry leaves at 06:40." [1].' in text  # the quotation is untouched
    assert "ES<The second sailing starts in May [2].>" in text
    assert llm.calls == [free]  # only the free sentence went to the LLM


def test_a_sentence_that_loses_its_marker_in_translation_stays_english():
    free = "The second sailing starts in May [2]."
    answer = Answer(question="q", answer=free, refused=False)
    assert reply(Translator(drop_markers=True), answer, "fr", [free]) == free


def test_the_refusal_is_the_fixed_translation():
    answer = Answer(question="q", answer=f"{phrases.REFUSAL}\n\n{phrases.CLOSEST_PASSAGES}\n- x", refused=True)
    text = reply(Translator(), answer, "de", [])
    assert phrases.LOCALIZED["de"]["refusal"] in text and phrases.LOCALIZED["de"]["closest"] in text


@pytest.mark.llm
def test_a_spanish_question_over_an_english_document(tmp_path, shared_embedder):
    from assistant import Assistant
    from assistant.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notice.md").write_text(FERRY, encoding="utf-8")
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    a.ingest(str(docs))
    answer = a.ask("¿A qué hora sale el primer ferry a Holmsund?")
    assert answer.language == "es" and answer.question_en and "ferry" in answer.question_en.lower()
    assert not answer.refused, answer.answer
    assert any("06:40" in c.quote for c in answer.citations)
    assert "06:40" in answer.answer and answer.answer != answer.answer_en


BRIDGE_ZH = """标题：青石大桥通车公告
青石大桥于2019年5月正式通车。大桥全长1250米，由港城建设集团承建。桥上设有两条自行车道。
"""


@pytest.mark.llm
def test_a_chinese_question_over_a_chinese_document(tmp_path, shared_embedder):
    from assistant import Assistant
    from assistant.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bridge.md").write_text(BRIDGE_ZH, encoding="utf-8")
    (docs / "notice.md").write_text(FERRY, encoding="utf-8")
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    a.ingest(str(docs))
    answer = a.ask("青石大桥全长多少米？")
    assert answer.language == "zh" and not answer.refused, answer.answer
    assert any(c.source.endswith("bridge.md") and "1250" in c.quote for c in answer.citations), answer.citations
    assert all(len(c.quote) < len(BRIDGE_ZH) - 20 for c in answer.citations)  # a sentence, not the whole text
    assert "1250" in answer.answer
