"""``python -m lrjax``: the same as the ``lrjax`` console script."""

import sys

from lrjax._cli import main

sys.exit(main())
