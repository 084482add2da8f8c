"""``python -m benchmarks [-k TEXT] [--out FILE]``: run the registered cases and print one table."""

import sys

from benchmarks.harness import main

sys.exit(main())
