"""``python -m mmace_fast.data.dft``: see :mod:`mmace_fast.data.dft.cli`."""
import sys

from .cli import main

sys.exit(main())
