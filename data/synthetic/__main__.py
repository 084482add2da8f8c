"""``python -m data.synthetic``: see the package docstring."""

from data.synthetic import main

raise SystemExit(main())
