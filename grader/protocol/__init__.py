"""The sandbox protocol: cases out, outcomes back, and the code that makes one from the other.

Data only, for both sides of the sandbox: :class:`Case` and :class:`Outcome`,
:func:`run_case` (the one function that calls student code) and the wire codec. The
sandboxed child loads this package directly from its folder, so it needs nothing of
the rest of ``grader`` (which holds the hidden cases and the references).
"""

from ._case import MODES, Case, Outcome, as_tree, case_dtype
from ._run import run_case, run_cases, type_name
from ._wire import (
    args_from_wire,
    case_from_wire,
    case_to_wire,
    handle_line,
    outcome_from_wire,
    outcome_to_wire,
    tree_from_wire,
    tree_to_wire,
    value_from_wire,
)

__all__ = [
    "MODES",
    "Case",
    "Outcome",
    "args_from_wire",
    "as_tree",
    "case_dtype",
    "case_from_wire",
    "case_to_wire",
    "handle_line",
    "outcome_from_wire",
    "outcome_to_wire",
    "run_case",
    "run_cases",
    "tree_from_wire",
    "tree_to_wire",
    "type_name",
    "value_from_wire",
]
