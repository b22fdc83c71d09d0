"""``python -m nn.cli``: the ``chainrule`` command without installing its script."""

import sys

from nn.cli import main

sys.exit(main())
