"""Feedback text in the notebook's language: one catalogue per language, the same keys.

Every diagnosis has a ``title`` (the mistake's name, which the tests look for
in the autograded output) and ``advice`` (what to change).
"""

LANGS = ("en", "uk")

# The diagnoses every exercise has, most specific first: when several explain every
# failing check, the first in this order is reported. An exercise's catalogued
# mistakes rank after "lost_precision" (grader/checks/_judge.py).
GENERIC_RANK = (
    "not_implemented",
    "tracer",
    "returned_none",
    "returned_list",
    "wrong_structure",
    "unsupported_type",
    "raised",
    "not_float",
    "lost_precision",
    "wrong_shape",
    "sign_flipped",
    "scaled",
    "not_finite",
    "wrong_values",
)

MESSAGES = {
    "en": {
        "pass": "{function}: all {total} checks passed.",
        "fail_header": "{function} is not right yet: {failed} of {total} checks failed.",
        "diagnosis": "Diagnosis: {title}. {advice}",
        "first_failure": "First failing check ({how}):",
        "diagnosis_of": "Diagnosis for {name}: {title}. {advice}",
        "leaves_status": "Right: {right}. Not right: {wrong}.",
        "hint": "Hint: {title}. {advice}",
        "kind.python": "Python {type}",
        "how.trace": "traced with jax.make_jaxpr",
        "input": "input",
        "expected": "expected",
        "got": "got",
        "raised": "raised {error}",
        "raised_at": "at {where}",
        "how.call": "called directly",
        "how.jit": "called through jax.jit",
        "how.vmap": "called through jax.vmap over {m} examples",
        "kind.scalar": "{dtype} NumPy scalar",
        "kind.0d": "{dtype} 0-d array",
        "kind.array": "{dtype} array of shape {shape}",
        "formula": "The formula is {formula}.",
        "not_implemented.title": "not implemented yet",
        "not_implemented.advice": (
            "The function still raises NotImplementedError: replace that line "
            "with your code. {formula_sentence}"
        ),
        "tracer.title": "a NumPy call that breaks under tracing",
        "tracer.advice": (
            "Inside jax.jit and jax.vmap your inputs are JAX tracers, not numbers: "
            "np.float64(...), float(...), np.exp(...) or np.array(...) of a tracer fails. "
            "Use plain arithmetic or jnp functions (jnp.exp, jnp.asarray) instead."
        ),
        "returned_none.title": "returned None",
        "returned_none.advice": (
            "The function computes something but does not return it: add a return statement."
        ),
        "returned_list.title": "returned a Python {type_name}",
        "returned_list.advice": (
            "Return an array, not a {type_name}: a list cannot be traced or vectorised. "
            "Compute with arrays. {formula_sentence}"
        ),
        "unsupported_type.title": "returned a {type_name}",
        "unsupported_type.advice": "Return a number or an array. {formula_sentence}",
        "raised.title": "the function raised an error",
        "raised.advice": "Read the error below, fix the code and run the cell again.",
        "not_float.title": "the result is not floating point",
        "not_float.advice": (
            "The result has dtype {dtype}: keep the computation in floating point "
            "(no int(...), round(...) or comparisons)."
        ),
        "lost_precision.title": "precision lost",
        "lost_precision.advice": (
            "The inputs were float64 but the result is {dtype}: do not cast to float32."
        ),
        "wrong_shape.title": "wrong shape",
        "wrong_shape.advice": (
            "Expected a result of shape {expected_shape}, got {got_shape}. {formula_sentence}"
        ),
        "sign_flipped.title": "sign flipped",
        "sign_flipped.advice": (
            "Every value has the right size but the opposite sign. {formula_sentence}"
        ),
        "scaled.title": "scaled by a constant",
        "scaled.advice": (
            "Every value is {ratio} times the right one: look for a factor too many or "
            "too few (a sum instead of a mean, a missing 1/m). {formula_sentence}"
        ),
        "wrong_structure.title": "not the {count} values expected",
        "wrong_structure.advice": (
            "The function returns {count} values, in this order: {names} "
            "(return {names} as a tuple)."
        ),
        "not_finite.title": "inf or nan in the result",
        "not_finite.advice": (
            "The result is not finite where the right answer is. {formula_sentence}"
        ),
        "wrong_values.title": "wrong values",
        "wrong_values.advice": "Compare your code with the formula. {formula_sentence}",
    },
    "uk": {
        "pass": "{function}: пройдено всі перевірки ({total}).",
        "fail_header": "{function}: ще є помилки, не пройдено {failed} з {total} перевірок.",
        "diagnosis": "Діагноз: {title}. {advice}",
        "first_failure": "Перша непройдена перевірка ({how}):",
        "diagnosis_of": "Діагноз для {name}: {title}. {advice}",
        "leaves_status": "Правильно: {right}. Неправильно: {wrong}.",
        "hint": "Порада: {title}. {advice}",
        "kind.python": "число {type} з Python",
        "how.trace": "трасування через jax.make_jaxpr",
        "input": "вхід",
        "expected": "очікувано",
        "got": "отримано",
        "raised": "виникла помилка {error}",
        "raised_at": "у {where}",
        "how.call": "прямий виклик",
        "how.jit": "виклик через jax.jit",
        "how.vmap": "виклик через jax.vmap для {m} зразків",
        "kind.scalar": "скаляр NumPy {dtype}",
        "kind.0d": "0-вимірний масив {dtype}",
        "kind.array": "масив {dtype} форми {shape}",
        "formula": "Формула: {formula}.",
        "not_implemented.title": "ще не реалізовано",
        "not_implemented.advice": (
            "Функція досі викидає NotImplementedError: заміни цей рядок своїм кодом. "
            "{formula_sentence}"
        ),
        "tracer.title": "виклик NumPy, що ламається під трасуванням",
        "tracer.advice": (
            "Усередині jax.jit і jax.vmap вхідні дані є трасерами JAX, а не числами: "
            "np.float64(...), float(...), np.exp(...) чи np.array(...) від трасера не працює. "
            "Використовуй звичайну арифметику або функції jnp (jnp.exp, jnp.asarray)."
        ),
        "returned_none.title": "повернуто None",
        "returned_none.advice": (
            "Функція щось обчислює, але нічого не повертає: додай інструкцію return."
        ),
        "returned_list.title": "повернуто {type_name} Python",
        "returned_list.advice": (
            "Повертай масив, а не {type_name}: список не можна трасувати чи векторизувати. "
            "Обчислюй з масивами. {formula_sentence}"
        ),
        "unsupported_type.title": "повернуто {type_name}",
        "unsupported_type.advice": "Повертай число або масив. {formula_sentence}",
        "raised.title": "функція викинула помилку",
        "raised.advice": "Прочитай помилку нижче, виправ код і запусти клітинку ще раз.",
        "not_float.title": "результат не з рухомою комою",
        "not_float.advice": (
            "Результат має тип {dtype}: обчислюй у числах з рухомою комою "
            "(без int(...), round(...) чи порівнянь)."
        ),
        "lost_precision.title": "втрачено точність",
        "lost_precision.advice": (
            "Вхідні дані були float64, а результат має тип {dtype}: не перетворюй на float32."
        ),
        "wrong_shape.title": "неправильна форма",
        "wrong_shape.advice": (
            "Очікувано результат форми {expected_shape}, отримано {got_shape}. {formula_sentence}"
        ),
        "sign_flipped.title": "знак навпаки",
        "sign_flipped.advice": (
            "Кожне значення має правильну величину, але протилежний знак. {formula_sentence}"
        ),
        "scaled.title": "помножено на сталу",
        "scaled.advice": (
            "Кожне значення в {ratio} раза відрізняється від правильного: пошукай зайвий "
            "чи пропущений множник (сума замість середнього, пропущене 1/m). {formula_sentence}"
        ),
        "wrong_structure.title": "не ті {count} значення, що очікувано",
        "wrong_structure.advice": (
            "Функція повертає {count} значення, у такому порядку: {names} "
            "(поверни {names} як кортеж)."
        ),
        "not_finite.title": "inf або nan у результаті",
        "not_finite.advice": (
            "Результат не скінченний там, де правильна відповідь скінченна. {formula_sentence}"
        ),
        "wrong_values.title": "неправильні значення",
        "wrong_values.advice": "Порівняй свій код із формулою. {formula_sentence}",
    },
}


def message(key: str, lang: str = "en", **fields) -> str:
    """The catalogue entry ``key`` in ``lang``, filled with ``fields``.

    Raises:
        ValueError: if ``lang`` is not one of :data:`LANGS`.
        KeyError: if the catalogue has no such key, or a field is missing.
    """
    if lang not in MESSAGES:
        raise ValueError(f"Unknown language {lang!r}: expected one of {LANGS}")
    return MESSAGES[lang][key].format(**fields)


def title(diagnosis: str, lang: str = "en", **fields) -> str:
    """The name of a generic mistake, e.g. ``title("sign_flipped", "uk") == "знак навпаки"``."""
    return message(f"{diagnosis}.title", lang, **fields)
