"""The feedback catalogues: the same keys and placeholders in every language."""

import re
import string

import pytest

from grader._messages import DIAGNOSES, FORMULAS, LANGS, MESSAGES, message, title


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys():
    assert set(MESSAGES) == set(LANGS) == {"en", "uk"}
    assert set(MESSAGES["en"]) == set(MESSAGES["uk"])


@pytest.mark.parametrize("key", sorted(MESSAGES["en"]))
def test_placeholders_agree_between_languages(key):
    assert fields(MESSAGES["en"][key]) == fields(MESSAGES["uk"][key])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("diagnosis", DIAGNOSES)
def test_every_diagnosis_has_a_title_and_advice(diagnosis, lang):
    for part in ("title", "advice"):
        text = MESSAGES[lang][f"{diagnosis}.{part}"]
        assert text.strip() and text == text.strip()


def test_catalogue_has_no_diagnosis_outside_the_ranked_list():
    named = {key.rsplit(".", 1)[0] for key in MESSAGES["en"] if key.endswith(".title")}
    assert named == set(DIAGNOSES)


@pytest.mark.parametrize("key", sorted(MESSAGES["uk"]))
def test_ukrainian_entries_are_written_in_ukrainian(key):
    assert re.search("[а-яіїєґА-ЯІЇЄҐ]", MESSAGES["uk"][key]), MESSAGES["uk"][key]
    assert MESSAGES["uk"][key] != MESSAGES["en"][key]


def test_ukrainian_terms_follow_the_lecture():
    uk = " ".join(MESSAGES["uk"].values())
    for term in ("ланцюгов", "зразк", "характеристик", "похідн"):
        assert term in uk


@pytest.mark.parametrize("lang", LANGS)
def test_message_fills_fields_and_titles(lang):
    assert "compute_dz" in message("pass", lang, function="compute_dz", total=7)
    assert "7" in message("pass", lang, function="compute_dz", total=7)
    assert title("returned_list", lang, type_name="list").count("list") == 1
    assert FORMULAS["compute_dz"] in message("formula", lang, formula=FORMULAS["compute_dz"])


def test_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'en', 'uk'"):
        message("pass", "de", function="f", total=1)


def test_missing_field_is_an_error():
    with pytest.raises(KeyError):
        message("pass", "en", function="f")
