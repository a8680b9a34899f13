"""nbgrader configuration of the lrjax course (run nbgrader from this folder)."""

import os

from grader.hooks import configure_mathjax, secure_autograde

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

c.CourseDirectory.course_id = "lrjax"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# What students see in place of a solution (the "# YOUR CODE HERE" line above it is
# part of the notebook, in the notebook's language).
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A kernel start plus the JAX compilations of every check fit well within this.
c.Execute.timeout = 300
c.Execute.startup_timeout = 120

# Autograde -- `nbgrader autograde` and formgrader's Autograde button alike -- runs the
# students' code in the grader's sandbox (docs/grader.md), never in a kernel with your
# rights; nbgrader still scores and writes the gradebook. The sandbox's limits:
# c.SandboxGrade.timeout = 60 (s), c.SandboxGrade.memory_mb = 4096, c.SandboxGrade.jobs.
# LRJAX_AUTOGRADE=kernel restores nbgrader's own unsandboxed execution (for comparisons
# only: a submission then runs with the rights of whoever grades).
if os.environ.get("LRJAX_AUTOGRADE", "sandbox") == "kernel":
    # Every notebook run in a kernel compiles the same JAX programs: the kernels, which
    # inherit this environment, keep them in this course's .lrjax-cache/jax for the next
    # kernel (12.7 s -> 5.7 s a notebook). The sandboxed grader never reads it.
    _CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".lrjax-cache", "jax")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
else:
    secure_autograde(c)

# Maths in formgrader and in the feedback HTML without a network: MathJax 2.7 from the
# jupyter-server-mathjax package, not from a CDN (grader/hooks/_mathjax.py).
configure_mathjax(c)
