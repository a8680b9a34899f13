"""``python -m grader autograde ASSIGNMENT --course DIR`` (also ``lrjax-grade``).

Argument parsing and printing only; the work is :func:`grader._pipeline.grade_assignment`.
"""

import argparse
import os
import sys


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
    auto.add_argument("--json", dest="json_out", help="also write results to this JSON file")
    auto.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                      help="sandboxes at once (default: all cores)")  # fmt: skip
    auto.add_argument("--timeout", type=float, default=60.0,
                      help="wall-clock seconds per submission (default 60)")  # fmt: skip
    auto.add_argument("--memory", type=int, default=4096,
                      help="address-space limit per submission in MB (default 4096)")  # fmt: skip
    auto.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad arguments)."""
    args = _parser().parse_args(argv)
    from grader._pipeline import grade_assignment, score_table
    from grader._sandbox import Limits

    if args.jobs < 1 or args.timeout <= 0 or args.memory < 256:
        print("--jobs must be >= 1, --timeout > 0 and --memory >= 256 (MB)", file=sys.stderr)
        return 2
    try:
        results = grade_assignment(
            args.course,
            args.assignment,
            jobs=args.jobs,
            limits=Limits(timeout_s=args.timeout, memory_mb=args.memory),
            json_out=args.json_out,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(score_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
