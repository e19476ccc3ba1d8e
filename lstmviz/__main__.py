"""``python -m lstmviz``: the command line (see ``lstmviz.core.cli``)."""

import sys

from .critical import importing

with importing():  # a Ctrl-C while torch imports: one line, exit 130 (see lstmviz.critical)
    from .core.cli import main

if __name__ == "__main__":
    sys.exit(main())
