"""``python -m bpopt``: the command line of :mod:`bpopt._cli`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
