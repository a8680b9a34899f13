"""nbgrader configuration of the lrjax course (run nbgrader from this folder)."""

import os

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

# Every notebook nbgrader runs compiles the same JAX programs (the checks, the training
# loop): its kernels, which inherit this environment, keep the compiled programs in this
# course's .lrjax-cache/jax for the next kernel (a notebook of the second assignment:
# 12.7 s -> 5.7 s). Only stock nbgrader's kernels read it: `python -m grader` drops these
# variables before it imports JAX, and its sandboxes start with a clean environment.
_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".lrjax-cache", "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
