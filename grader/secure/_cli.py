"""``python -m grader autograde ASSIGNMENT --course DIR``, ``doctor`` and ``checks``.

Also installed as ``lrjax-grade``. Argument parsing and printing only; the work is
:func:`grader.secure._pipeline.grade_assignment` and :mod:`grader.secure._preflight`.

Exit status: 0 every submission graded; 1 some submissions hit a grader error (not
recorded: the command to grade exactly those again is printed); 2 bad arguments or
input: no such course, source/ or assignment, the gradebook locked by another program
(after waiting 30 s) or corrupt (left as it is), a ``--scheduler`` that cannot be
reached or has no worker; 3 this machine cannot sandbox, or the
source solution failed the preflight (nothing written); 4 a write failed part-way (a
full disk, a read-only folder). After 2 and 4 no student is half-written (gradebook,
autograded/; a JSON that cannot be written keeps its previous content), and the message
names the file, the fix and how many students were recorded before it.
A submission that is not a notebook is that student's problem, not an error of the run:
status "unreadable", 0 points.
"""

import argparse
import os
import shlex
import sys


def _limits_args(parser) -> None:
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="wall-clock seconds per submission (default 60)")  # fmt: skip
    parser.add_argument("--memory", type=int, default=4096,
                        help="address-space limit per submission in MB (default 4096)")  # fmt: skip
    parser.add_argument("--isolation", choices=("bwrap", "weak"), default="bwrap",
                        help="bwrap (default): bubblewrap namespaces and a private "
                        "filesystem; weak: unshare only, when bwrap cannot run (the table, "
                        "JSON and gradebook then say which protections were missing)")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrjax-grade",
        description="Grade a whole class safely: each submission in its own sandbox, "
        "scores written to the course's nbgrader gradebook.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    auto = commands.add_parser("autograde", help="grade every submission of an assignment")
    auto.add_argument("assignment", help="assignment name (a folder under source/)")
    auto.add_argument("--course", required=True, help="nbgrader course root")
    auto.add_argument("--json", dest="json_out",
                      help="also write the results to this JSON file (at the end)")  # fmt: skip
    auto.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                      help="sandboxes at once on this machine (default: all cores)")  # fmt: skip
    auto.add_argument("--scheduler", metavar="ADDRESS",
                      help="run the sandboxes on the workers of this Dask scheduler "
                      "(tcp://HOST:8786); everything else stays here")  # fmt: skip
    auto.add_argument("--resume", action="store_true",
                      help="skip students already recorded in COURSE/grades/ASSIGNMENT.jsonl "
                      "with the same submission and source (after an interrupted run)")  # fmt: skip
    auto.add_argument("--student", action="append", dest="students", metavar="ID",
                      help="grade only this student (repeat for several)")  # fmt: skip
    _limits_args(auto)
    auto.add_argument("--no-progress", action="store_true", help="no progress bar")
    checks = commands.add_parser(
        "checks", help="write source/ASSIGNMENT/checks.json: the visible cases students get"
    )
    checks.add_argument("assignment", help="assignment name (a folder under source/)")
    checks.add_argument("--course", required=True, help="nbgrader course root")
    doctor = commands.add_parser(
        "doctor", help="check this machine's sandbox (with --course: grade the source solution)"
    )
    doctor.add_argument("--course", help="nbgrader course root")
    doctor.add_argument("--assignment", help="assignment to check (default: every one)")
    _limits_args(doctor)
    return parser


def _rerun(args, students) -> str:
    """The command that grades exactly ``students`` again."""
    cmd = ["python", "-m", "grader", "autograde", args.assignment, "--course", args.course]
    if args.json_out:
        cmd += ["--json", args.json_out]
    if args.isolation != "bwrap":
        cmd += ["--isolation", args.isolation]
    if args.scheduler:
        cmd += ["--scheduler", args.scheduler]
    for student in students:
        cmd += ["--student", student]
    return shlex.join(cmd)


# A persistent JAX cache holds compiled machine code: the trusted process never loads one
# (a student's code under stock nbgrader could have written it; nbgrader_config.py sets it
# for stock nbgrader's kernels).
_UNTRUSTED_ENV = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
                  "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES")  # fmt: skip


def drop_untrusted_jax_cache() -> None:
    """Make this process compile its own JAX programs (the references): forget the
    persistent cache that the environment or an already imported JAX points at."""
    for name in _UNTRUSTED_ENV:
        os.environ.pop(name, None)
    if "jax" in sys.modules:  # imported before main() ran (in-process callers, tests)
        sys.modules["jax"].config.update("jax_compilation_cache_dir", None)


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    drop_untrusted_jax_cache()
    args = _parser().parse_args(argv)
    if args.command == "checks":
        return _checks(args)
    if args.timeout <= 0 or args.memory < 256 or getattr(args, "jobs", 1) < 1:
        print("--jobs must be >= 1, --timeout > 0 and --memory >= 256 (MB)", file=sys.stderr)
        return 2
    from grader.secure import _bwrap, _preflight
    from grader.secure._sandbox import Limits

    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory)
    try:
        if args.command == "doctor":
            return _doctor(args, limits)
        from grader.secure._gradebook import RecordError
        from grader.secure._pipeline import grade_assignment, grader_errors, score_table

        try:
            results = grade_assignment(
                args.course,
                args.assignment,
                jobs=args.jobs,
                limits=limits,
                json_out=args.json_out,
                progress=not args.no_progress,
                isolation=args.isolation,
                students=args.students,
                scheduler=args.scheduler,
                resume=args.resume,
            )
        except RecordError as exc:
            return _record_failed(exc)
    except (_bwrap.Unavailable, _preflight.PreflightFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, _bwrap.Unavailable):
            print("(or, knowing what it lacks, grade with --isolation weak)", file=sys.stderr)
        print("nothing was graded or written", file=sys.stderr)
        return 3
    except ImportError as exc:  # `pip install lrjax` alone: the grader's extra is missing
        hint = "" if "lrjax[grade]" in str(exc) else "; install it with: pip install 'lrjax[grade]'"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # no such course, no scheduler, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(score_table(results))
    errors = grader_errors(results)
    if errors:
        print(f"\n{len(errors)} submission(s) were not graded because the grader failed "
              f"(see the reasons above); fix the cause, then grade exactly those with:\n"
              f"  {_rerun(args, errors)}", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _checks(args) -> int:
    """Write an assignment's checks.json; exit 2 (one line) on a bad course or exercise."""
    try:
        from grader.secure._release import write_assignment_checks

        path, names = write_assignment_checks(args.course, args.assignment)
    except ImportError as exc:
        print(f"error: {exc}; install it with: pip install 'lrjax[grade]'", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: the visible cases of {', '.join(names) or 'no exercise'}")
    return 0


def _record_failed(exc) -> int:
    """Print a :class:`grader.secure._gradebook.RecordError` and what was kept; its exit status."""
    print(f"error: {exc}", file=sys.stderr)
    done = len(exc.recorded)
    print(f"{done} student(s) were recorded in full before this; nothing of the others was "
          "written" if done else "no student was recorded; nothing was half-written",
          file=sys.stderr)  # fmt: skip
    return exc.exit_code


def _doctor(args, limits) -> int:
    """Print what this machine's sandbox gives; with --course, run the preflight."""
    from pathlib import Path

    from grader.secure import _collect, _preflight
    from grader.secure._sandbox import Cell, run_submission

    print(_preflight.machine(), flush=True)
    if not args.course:
        result = run_submission([Cell("setup", "import jax.numpy as jnp\n")], [], limits=limits,
                                isolation=args.isolation)  # fmt: skip
        if result.status != "ok":
            raise _preflight.PreflightFailed(f"an empty submission failed: {result.reason}")
        print(_preflight.describe(_preflight.Report(result.isolation, result.wall_s, {})))
        print("(an empty submission: pass --course DIR to grade the source solution)")
        return 0
    course = Path(args.course).resolve()
    folder = course / "source"
    names = [args.assignment] if args.assignment else sorted(
        p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []  # fmt: skip
    if not names:
        raise FileNotFoundError(f"no assignments under {folder}: pass the course root")
    for name in names:
        sources = _collect.read_source(course, name)
        print(f"{name}: grading the source solution in the sandbox ...", flush=True)
        report = _preflight.run(sources, limits=limits, isolation=args.isolation,
                                hidden=[str(course)])  # fmt: skip
        print(_preflight.describe(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
