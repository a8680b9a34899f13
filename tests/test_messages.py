"""The feedback catalogues -- the grader's generic one and each exercise's own texts --
have the same keys and placeholders in every language."""

import re
import string

import pytest
from _exercises import EXERCISES, mistakes

from grader.checks._messages import GENERIC_RANK, LANGS, MESSAGES, message, title


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys():
    assert set(MESSAGES) == set(LANGS) == {"en", "uk"}
    assert set(MESSAGES["en"]) == set(MESSAGES["uk"])


@pytest.mark.parametrize("key", sorted(MESSAGES["en"]))
def test_placeholders_agree_between_languages(key):
    assert fields(MESSAGES["en"][key]) == fields(MESSAGES["uk"][key])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("diagnosis", GENERIC_RANK)
def test_every_diagnosis_has_a_title_and_advice(diagnosis, lang):
    for part in ("title", "advice"):
        text = MESSAGES[lang][f"{diagnosis}.{part}"]
        assert text.strip() and text == text.strip()


def test_catalogue_has_no_diagnosis_outside_the_ranked_list():
    named = {key.rsplit(".", 1)[0] for key in MESSAGES["en"] if key.endswith(".title")}
    assert named == set(GENERIC_RANK)


@pytest.mark.parametrize("key", sorted(MESSAGES["uk"]))
def test_ukrainian_entries_are_written_in_ukrainian(key):
    assert re.search("[а-яіїєґА-ЯІЇЄҐ]", MESSAGES["uk"][key]), MESSAGES["uk"][key]
    assert MESSAGES["uk"][key] != MESSAGES["en"][key]


def _exercise_texts(lang):
    """Every title and advice the declarations hold in ``lang``."""
    texts = [t for _, m in mistakes() for t in (m.title[lang], m.advice[lang])]
    for ex in EXERCISES.values():
        texts += [part[lang] for own in ex.overrides.values() for part in own.values()]
        texts.append(ex.doc[lang])
    return texts


@pytest.mark.parametrize(
    ("exercise", "mistake"), [pytest.param(e, m, id=f"{e.name}-{m.name}") for e, m in mistakes()]
)
def test_each_mistake_speaks_both_languages_with_the_same_placeholders(exercise, mistake):
    for part in (mistake.title, mistake.advice):
        assert set(part) == set(LANGS)
        assert fields(part["en"]) == fields(part["uk"]) <= {"formula_sentence"}
        assert re.search("[а-яіїєґА-ЯІЇЄҐ]", part["uk"]) and part["uk"] != part["en"]


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_each_exercise_has_its_docstring_and_overrides_in_both_languages(name):
    ex = EXERCISES[name]
    assert set(ex.doc) == set(LANGS)
    for key, own in ex.overrides.items():
        assert key in GENERIC_RANK, f"{name} overrides an unknown diagnosis {key!r}"
        for part, text in own.items():
            assert part in ("title", "advice") and set(text) == set(LANGS)
            assert fields(text["uk"]) == fields(text["en"])
            assert fields(text["en"]) <= fields(MESSAGES["en"][f"{key}.{part}"]) | {
                "formula_sentence"
            }


def test_ukrainian_terms_follow_the_lecture():
    uk = " ".join([*MESSAGES["uk"].values(), *_exercise_texts("uk")])
    for term in ("ланцюгов", "зразк", "характеристик", "похідн"):
        assert term in uk


@pytest.mark.parametrize("lang", LANGS)
def test_message_fills_fields_and_titles(lang):
    assert "compute_dz" in message("pass", lang, function="compute_dz", total=7)
    assert "7" in message("pass", lang, function="compute_dz", total=7)
    assert title("returned_list", lang, type_name="list").count("list") == 1
    formula = EXERCISES["compute_dz"].formula
    assert formula in message("formula", lang, formula=formula)


def test_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'en', 'uk'"):
        message("pass", "de", function="f", total=1)


def test_missing_field_is_an_error():
    with pytest.raises(KeyError):
        message("pass", "en", function="f")
