"""``python -m glth_core``: see :mod:`glth_core.cli`."""
import sys

from .cli import main

sys.exit(main())
