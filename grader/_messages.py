"""Feedback text in the notebook's language: one catalogue per language, the same keys.

Every diagnosis has a ``title`` (the mistake's name, which the tests look for
in the autograded output) and ``advice`` (what to change).
"""

LANGS = ("en", "uk")

FORMULAS = {
    "compute_da": "da = -y / a + (1 - y) / (1 - a)",
    "compute_dz": "dz = a - y",
    "compute_dw": "dw = x * dz",
    "compute_db": "db = dz",
}

# Diagnoses, most specific first: when several explain every failing check,
# the first in this order is reported.
DIAGNOSES = (
    "not_implemented",
    "tracer",
    "returned_none",
    "returned_list",
    "unsupported_type",
    "raised",
    "not_float",
    "lost_precision",
    "dw_without_x",
    "dw_summed",
    "wrong_shape",
    "da_missing_minus",
    "dz_as_da",
    "sign_flipped",
    "db_scaled",
    "not_finite",
    "wrong_values",
)

MESSAGES = {
    "en": {
        "pass": "{function}: all {total} checks passed.",
        "fail_header": "{function} is not right yet: {failed} of {total} checks failed.",
        "diagnosis": "Diagnosis: {title}. {advice}",
        "first_failure": "First failing check ({how}):",
        "input": "input",
        "expected": "expected",
        "got": "got",
        "raised": "raised {error}",
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
            "Compute with arrays (for dw, x * dz is already an array of shape (n,))."
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
            "Expected a result of shape {expected_shape}, got {got_shape}. "
            "One example in, one example out: da, dz and db are scalars (shape ()), "
            "dw has the shape of x (n,). {formula_sentence}"
        ),
        "dw_without_x.title": "dw without x",
        "dw_without_x.advice": (
            "The result is dz itself, without the feature values: the chain rule gives "
            "dL/dw_j = dL/dz · dz/dw_j = x_j · dz, so multiply by x: dw = x * dz."
        ),
        "dw_summed.title": "dw summed over the features",
        "dw_summed.advice": (
            "dw has one entry per weight (shape (n,)): do not add x_j · dz up. Use dw = x * dz."
        ),
        "da_missing_minus.title": "the missing minus in da",
        "da_missing_minus.advice": (
            "Right when y = 0, wrong sign when y = 1: the derivative of -y·log(a) "
            "is -y/a, with a minus. {formula_sentence}"
        ),
        "dz_as_da.title": "dz computed as da",
        "dz_as_da.advice": (
            "The result equals dL/da. dz = dL/da · da/dz, and with da/dz = a(1 - a) "
            "the product simplifies to dz = a - y."
        ),
        "sign_flipped.title": "sign flipped",
        "sign_flipped.advice": (
            "Every value has the right size but the opposite sign. {formula_sentence}"
        ),
        "db_scaled.title": "db averaged or summed wrongly",
        "db_scaled.advice": (
            "Every value is {ratio} times the right one. For one example db = dz: "
            "there is nothing to average or add up (the mean over m examples comes later, "
            "outside this function)."
        ),
        "not_finite.title": "inf or nan in the result",
        "not_finite.advice": (
            "The result is not finite where the right answer is. {formula_sentence}"
        ),
        "wrong_values.title": "wrong values",
        "wrong_values.advice": "Compare your code with the formula. {formula_sentence}",
    },
    "uk": {
        "pass": "{function}: усі {total} перевірок пройдено.",
        "fail_header": "{function}: ще є помилки, не пройдено {failed} з {total} перевірок.",
        "diagnosis": "Діагноз: {title}. {advice}",
        "first_failure": "Перша непройдена перевірка ({how}):",
        "input": "вхід",
        "expected": "очікувано",
        "got": "отримано",
        "raised": "виникла помилка {error}",
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
            "Обчислюй з масивами (для dw вираз x * dz уже є масивом форми (n,))."
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
            "Очікувано результат форми {expected_shape}, отримано {got_shape}. "
            "Один зразок на вході, один на виході: da, dz і db є скалярами (форма ()), "
            "dw має форму x (n,). {formula_sentence}"
        ),
        "dw_without_x.title": "dw без x",
        "dw_without_x.advice": (
            "Результат дорівнює самому dz, без значень характеристик: за ланцюговим правилом "
            "dL/dw_j = dL/dz · dz/dw_j = x_j · dz, тож помнож на x: dw = x * dz."
        ),
        "dw_summed.title": "dw підсумовано за характеристиками",
        "dw_summed.advice": (
            "dw має по одному елементу на кожну вагу (форма (n,)): не додавай x_j · dz разом. "
            "Використай dw = x * dz."
        ),
        "da_missing_minus.title": "пропущений мінус у da",
        "da_missing_minus.advice": (
            "Правильно при y = 0, але знак неправильний при y = 1: похідна від -y·log(a) "
            "дорівнює -y/a, з мінусом. {formula_sentence}"
        ),
        "dz_as_da.title": "dz обчислено як da",
        "dz_as_da.advice": (
            "Результат дорівнює dL/da. dz = dL/da · da/dz, а оскільки da/dz = a(1 - a), "
            "добуток спрощується до dz = a - y."
        ),
        "sign_flipped.title": "знак навпаки",
        "sign_flipped.advice": (
            "Кожне значення має правильну величину, але протилежний знак. {formula_sentence}"
        ),
        "db_scaled.title": "db неправильно усереднено чи підсумовано",
        "db_scaled.advice": (
            "Кожне значення в {ratio} раза відрізняється від правильного. Для одного зразка "
            "db = dz: тут нічого не треба ні усереднювати, ні підсумовувати (середнє за "
            "m зразками обчислюється пізніше, поза цією функцією)."
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
    """The name of a mistake, e.g. ``title("sign_flipped", "uk") == "знак навпаки"``."""
    return message(f"{diagnosis}.title", lang, **fields)
