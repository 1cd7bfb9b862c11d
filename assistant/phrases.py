"""Phrases the code relies on, shared by prompts, code and tests.

The prompt templates in ``prompts/`` refer to these through ``{refusal}``-style
placeholders, so a wording change happens here once and the model, the answer
checker and the tests all follow it.
"""

import re

#: What the assistant says when the documents do not contain the answer.
REFUSAL = "I could not find the answer in the documents."

#: How an answer cites source number n.
CITATION_FORMAT = "[{n}]"

#: Matches one or more citation markers such as "[2]" or "[1, 3]" or "[1][3]".
CITATION_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")

#: Said after the refusal when the question names something no document mentions.
NOT_MENTIONED = "The documents never mention {names}."

#: How a "No" verdict opens: the sources read for the question do not state what it asks.
NOT_STATED = "No: the documents do not say so."

#: How a "No" verdict opens when the deciding quote denies what the question asks ("... has not
#: been approved"): the documents do say so, and saying "they do not say so" would be wrong.
NO = "No."

#: How an answer built around one name opens (bridge.py): the name, then the quotes that name it.
NAMED = "{name}:"

#: Heading shown above the closest passages when the assistant refuses.
CLOSEST_PASSAGES = "Closest passages:"


#: Fixed translations of the phrases above, for answers to questions in other languages (language.py):
#: the refusal, the closest-passages heading, the yes/no verdicts and the "X says:" that opens a quote.
LOCALIZED = {
    "es": {
        "refusal": "No encontré la respuesta en los documentos.",
        "closest": "Pasajes más cercanos:",
        "yes": "Sí.",
        "no": "No.",
        "not_stated": "No: los documentos no lo dicen.",
        "says": "dice:",
    },
    "fr": {
        "refusal": "Je n'ai pas trouvé la réponse dans les documents.",
        "closest": "Passages les plus proches :",
        "yes": "Oui.",
        "no": "Non.",
        "not_stated": "Non : les documents ne le disent pas.",
        "says": "dit :",
    },
    "de": {
        "refusal": "Ich habe die Antwort in den Dokumenten nicht gefunden.",
        "closest": "Nächstliegende Passagen:",
        "yes": "Ja.",
        "no": "Nein.",
        "not_stated": "Nein: Die Dokumente sagen das nicht.",
        "says": "sagt:",
    },
    "it": {
        "refusal": "Non ho trovato la risposta nei documenti.",
        "closest": "Passaggi più vicini:",
        "yes": "Sì.",
        "no": "No.",
        "not_stated": "No: i documenti non lo dicono.",
        "says": "dice:",
    },
    "pt": {
        "refusal": "Não encontrei a resposta nos documentos.",
        "closest": "Passagens mais próximas:",
        "yes": "Sim.",
        "no": "Não.",
        "not_stated": "Não: os documentos não dizem isso.",
        "says": "diz:",
    },
    "nl": {
        "refusal": "Ik heb het antwoord niet in de documenten gevonden.",
        "closest": "Dichtstbijzijnde passages:",
        "yes": "Ja.",
        "no": "Nee.",
        "not_stated": "Nee: de documenten zeggen dat niet.",
        "says": "zegt:",
    },
    "zh": {
        "refusal": "我在文档中没有找到答案。",
        "closest": "最接近的段落：",
        "yes": "是的。",
        "no": "不。",
        "not_stated": "不：文档中没有这样说。",
        "says": "写道：",
    },
    "ja": {
        "refusal": "文書の中に答えが見つかりませんでした。",
        "closest": "最も近い箇所：",
        "yes": "はい。",
        "no": "いいえ。",
        "not_stated": "いいえ：文書にはそう書かれていません。",
        "says": "によると：",
    },
    "ko": {
        "refusal": "문서에서 답을 찾지 못했습니다.",
        "closest": "가장 가까운 구절:",
        "yes": "예.",
        "no": "아니요.",
        "not_stated": "아니요: 문서에는 그렇게 나와 있지 않습니다.",
        "says": "내용:",
    },
    "ru": {
        "refusal": "Я не нашёл ответа в документах.",
        "closest": "Ближайшие фрагменты:",
        "yes": "Да.",
        "no": "Нет.",
        "not_stated": "Нет: в документах этого не сказано.",
        "says": "пишет:",
    },
    "ar": {
        "refusal": "لم أجد الإجابة في المستندات.",
        "closest": "أقرب المقاطع:",
        "yes": "نعم.",
        "no": "لا.",
        "not_stated": "لا: المستندات لا تقول ذلك.",
        "says": "يقول:",
    },
}

#: The English forms the localized "yes", "no" and "says" replace (answer.py writes them).
YES = "Yes."
SAYS = "says:"


def cite(n: int) -> str:
    return CITATION_FORMAT.format(n=n)


def not_mentioned(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return NOT_MENTIONED.format(names=joined)
