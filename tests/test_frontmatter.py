"""frontmatter.parse: `Key: value` lines at a document's top, any keys, with a few that mean title/outlet/date."""

import pytest

from assistant.frontmatter import FrontMatter, normalize_date, parse


def test_any_keys_are_read_in_order_with_the_offset_where_the_body_starts():
    text = "Title: Kiln rules\nPublisher: Clay Monthly\nRegion: North Coast\nDate: 2024-05-01\n\nFire slowly.\n"
    fm = parse(text)
    assert fm.fields == {
        "title": "Kiln rules",
        "publisher": "Clay Monthly",
        "region": "North Coast",
        "date": "2024-05-01",
    }
    assert (fm.title, fm.outlet, fm.date) == ("Kiln rules", "Clay Monthly", "2024-05-01")
    assert text[fm.end :] == "\nFire slowly.\n"


@pytest.mark.parametrize("key", ["Source", "Outlet", "publisher", "Site Name", "site-name", "Website", "Newspaper"])
def test_outlet_synonyms(key):
    assert parse(f"Title: T\n{key}: Valley Post\n\nBody.").outlet == "Valley Post"


def test_the_first_outlet_key_in_the_list_wins_and_placeholders_are_no_outlet():
    assert parse("Title: T\nPublisher: B Press\nSource: A Times\n\nx").outlet == "A Times"
    assert parse("Title: T\nSource: unknown\n\nx").outlet == ""


def test_fenced_front_matter_skips_other_lines_and_strips_quotes():
    text = '---\ntitle: "Quince jelly"\ntags:\n  - fruit\nsite: Orchard Notes\n---\nCook the quince.\n'
    fm = parse(text)
    assert (fm.title, fm.outlet, fm.fields["tags"]) == ("Quince jelly", "Orchard Notes", "")
    assert text[fm.end :] == "Cook the quince.\n"
    assert parse("---\ntitle: never closed\n\nbody") == FrontMatter()


def test_a_body_that_starts_like_a_header_is_not_front_matter():
    assert parse("Note: bring a coat.\nWe leave at nine.\n") == FrontMatter()  # names no title, date or outlet
    assert parse("We leave at nine.\nTitle: late\n") == FrontMatter()  # only at the very start
    assert parse("") == FrontMatter()


def test_a_byte_order_mark_and_windows_line_ends():
    text = "\ufeffTitle: With BOM\r\nDate: 2022-02-03\r\n\r\nhello"
    fm = parse(text)
    assert (fm.title, fm.date) == ("With BOM", "2022-02-03") and text[fm.end :] == "\r\nhello"


def test_a_file_that_is_only_front_matter_ends_at_its_length():
    assert parse("Title: Only a title").end == len("Title: Only a title")


@pytest.mark.parametrize(
    "raw, iso",
    [("2023-10-06T21:31:00+00:00", "2023-10-06"), ("Sept. 5, 2023", "2023-09-05"), ("unknown", ""), ("soon", "soon")],
)
def test_normalize_date(raw, iso):
    assert normalize_date(raw) == iso
