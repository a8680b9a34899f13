"""``python -m grader``: the instructor's command line (grader/secure/_cli.py)."""

import sys

from grader.secure._cli import main

if __name__ == "__main__":
    sys.exit(main())
