from assistant.verify import addresses, check, cited_numbers, is_refusal, strip_citations
from assistant import phrases

SOURCE = ("The options remain under review and have not been authorized by President Donald Trump, "
          "who has insisted that Venezuelan President Nicolás Maduro leads international trafficking networks.")
Q = "Has Trump authorized the strikes?"


def test_a_faithful_claim_passes():
    assert check("No, Trump has not authorized the strikes [1].", SOURCE, Q).ok
    assert check("The options remain under review [1].", SOURCE, Q).ok


def test_an_invented_number_is_caught():
    r = check("Trump authorized 10 drone strikes [1].", SOURCE, Q)
    assert not r.ok and "10" in r.reason


def test_an_invented_name_is_caught():
    r = check("No, President Biden has not authorized them [1].", SOURCE, Q)
    assert not r.ok and "biden" in r.reason


def test_a_flipped_answer_is_caught():
    r = check("Yes, Trump authorized the strikes [1].", SOURCE, Q)
    assert not r.ok and "denies" in r.reason


def test_an_unrelated_source_is_caught():
    r = check("The bakery sells bread every morning [1].", SOURCE, Q)
    assert not r.ok


def test_number_words_and_abbreviations_match():
    src = "The U.S. military is drafting plans, according to four sources who spoke with NBC News."
    assert check("Four sources spoke to NBC News [1].", src, "How many sources spoke to NBC?").ok
    assert check("4 sources spoke with NBC News about US plans [1].", src, "How many sources?").ok


def test_citation_helpers():
    assert cited_numbers("a [1] b [2, 3][4].") == [1, 2, 3, 4]
    assert strip_citations("Yes, it was [2].") == "Yes, it was."
    assert is_refusal(phrases.REFUSAL)
    assert is_refusal("The sources do not mention the capital of Australia.")
    assert not is_refusal("No, Trump has not authorized the strikes [1].")


def test_a_yes_no_verdict_must_address_the_question():
    assert addresses("No, Trump has not authorized the strikes [1].", Q)
    assert not addresses("Yes, Trump has insisted that Maduro leads trafficking networks [1].", Q)


def test_a_multi_hop_claim_needs_both_sources_together():
    a = "The U.S. military is drafting plans for strikes, according to four sources who spoke with NBC News."
    b = "The options remain under review and have not been authorized by President Donald Trump."
    claim = "Four sources told NBC News that the options have not been authorized by Trump [1][2]."
    q = "What is known about the plans?"
    assert not check(claim, a, q).ok and not check(claim, b, q).ok
    assert check(claim, a + " " + b, q).ok


def test_paraphrased_word_forms_match():
    src = "Spain celebrate winning the 2010 FIFA World Cup."
    assert check("Spain won the World Cup in 2010 [1].", src, "Who won the World Cup in 2010?").ok
    assert check("The companies released the game [1].", "The company releases the game.", "").ok


def test_names_with_dots_quotes_and_hyphens_are_read_whole():
    src = "Chelsea is expanding in the U.S. market, the club said. It sells USB-C to USB-C cables."
    q = "Does 'The New York Times' say Chelsea is expanding?"
    assert check("Yes, 'The New York Times' says Chelsea is expanding in the U.S. market [1].", src, q).ok
    assert check("Chelsea sells USB-C-to-USB-C cables [1].", src, "").ok


def test_a_denial_needs_a_source_that_denies_the_same_thing():
    q = "Does the article suggest the ministry is reducing debt?"
    src = "The ministry aims to reduce new debt to P1.22 trillion. It did not raise taxes."
    r = check("No, the article does not suggest the ministry is reducing debt [1].", src, q)
    assert not r.ok and "deny" in r.reason
    assert check("No, the ministry did not raise taxes [1].", src, q).ok


def test_a_shared_name_alone_does_not_back_what_the_question_asked():
    q = "Who won the women's singles U.S. Open in 2019?"
    src = "Coco Gauff is a tennis player from Florida."
    r = check("Coco Gauff won the women's singles U.S. Open in 2019 [1].", src, q)
    assert not r.ok and "no key word" in r.reason
    assert check("Coco Gauff won the women's singles U.S. Open in 2019 [1].",
                 "Coco Gauff won the title at the U.S. Open.", q).ok
