"""Step 2 of secure grading: take only the solution cells' code from a student's notebook.

The child receives the SOURCE notebook's setup cell followed by the student's solution
cells (matched by nbgrader grade id to the source's solution cells, first match wins).
Test cells, markdown and any other cell the student added or edited are left out, so
nothing a student writes in a test cell (or an input transformer installed there) is
ever executed. IPython-only lines (``%magic``, ``!shell``) become ``pass``: they have no
meaning in plain Python and shell commands are not allowed anyway.
"""

import re
from dataclasses import dataclass

from grader.secure._sandbox import Cell

_IPYTHON_LINE = re.compile(r"^(\s*)[%!]")


@dataclass(frozen=True)
class Extracted:
    """The code the sandbox runs for one submission.

    Attributes:
        cells: setup first (from the source), then the student's solution cells.
        missing: solution grade ids the student's notebook does not contain.
    """

    cells: tuple[Cell, ...]
    missing: tuple[str, ...]


def strip_ipython(code: str) -> str:
    """Replace ``%magic`` and ``!shell`` lines by ``pass`` (same indentation).

    Args:
        code: a cell's source.

    Returns:
        Plain Python source with the same number of lines.
    """
    return "\n".join(_IPYTHON_LINE.sub(r"\1pass  # ", line) for line in code.split("\n"))


def extract(source, student_nb) -> Extracted:
    """The cells to run for ``student_nb`` graded against ``source``.

    Args:
        source: a :class:`grader.secure._collect.SourceNotebook`.
        student_nb: the student's notebook (``nbformat.NotebookNode``), or None when
            it was not handed in.

    Returns:
        An :class:`Extracted`.
    """
    found = {}
    for cell in student_nb.cells if student_nb is not None else ():
        grade_id = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in source.solution_ids:
            found.setdefault(grade_id, str(cell.get("source", "")))
    cells = [Cell("setup", source.setup)] if source.setup else []
    cells += [Cell(gid, strip_ipython(found[gid])) for gid in source.solution_ids if gid in found]
    missing = tuple(gid for gid in source.solution_ids if gid not in found)
    return Extracted(tuple(cells), missing)
