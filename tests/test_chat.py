import pytest

from assistant import phrases
from assistant.chat import format_history, standalone_question


class EchoLLM:
    def __init__(self, reply):
        self.reply, self.messages = reply, None

    def complete(self, messages, max_tokens=256, temperature=0.0, stop=None):
        self.messages = messages
        return self.reply


def test_history_is_short_and_without_citations_or_passages():
    answer = f"No, it was not authorized [1].\n\n{phrases.CLOSEST_PASSAGES}\n- x"
    text = format_history([("old", "x")] * 5 + [("Has Trump authorized the strikes?", answer)])
    assert "[1]" not in text and phrases.CLOSEST_PASSAGES not in text
    assert text.count("User:") == 3


def test_no_history_means_no_rewrite():
    llm = EchoLLM("should not be used")
    assert standalone_question(llm, [], "Has he approved them?") == "Has he approved them?"
    assert llm.messages is None


def test_a_bad_rewrite_falls_back_to_the_question():
    history = [("What are officials planning?", "Strikes on traffickers [1].")]
    assert standalone_question(EchoLLM(""), history, "Has he approved them?") == "Has he approved them?"
    assert standalone_question(EchoLLM(phrases.REFUSAL), history, "Has he approved them?") == "Has he approved them?"


def test_a_rewrite_must_keep_the_names_the_user_wrote():
    history = [("What are U.S. officials planning?", "Strikes on traffickers in Venezuela [1].")]
    q = "Has Trump approved them?"
    assert (
        standalone_question(EchoLLM("Has the U. S. military approved the strikes?"), history, q)
        == "Has Trump approved them? (following: What are U.S. officials planning?)"
    )
    good = "Has President Trump approved the strikes on traffickers in Venezuela?"
    assert standalone_question(EchoLLM(good), history, q) == good
    assert standalone_question(EchoLLM("Has Trump's team approved the strikes?"), history, q).startswith("Has Trump's")


def test_a_rewrite_must_keep_the_key_words_the_user_wrote():
    history = [("What is the harbour authority drafting?", "A new ferry timetable [1].")]
    q = "Has the director signed it?"
    assert (
        standalone_question(EchoLLM("Has the harbour authority signed the ferry timetable?"), history, q)
        == "Has the director signed it? (following: What is the harbour authority drafting?)"
    )
    good = "Has the director signed the new ferry timetable?"
    assert standalone_question(EchoLLM(good), history, q) == good


@pytest.mark.llm
def test_follow_up_is_rewritten_by_the_real_llm(seed_assistant):
    history = [
        (
            "What are U.S. military officials planning against Venezuela?",
            "They are drafting plans for strikes on drug traffickers inside Venezuela [1].",
        ),
        (
            "Who leads the trafficking networks, according to Trump?",
            "Trump has insisted that Venezuelan President Nicolás Maduro leads them [1].",
        ),
    ]
    q = standalone_question(seed_assistant.llm, history, "Has Trump approved the strikes yet?")
    assert "strike" in q.lower()
    q2 = standalone_question(seed_assistant.llm, history[:1], "Has Trump approved them?")
    assert "strike" in q2.lower() or "plan" in q2.lower(), q2
