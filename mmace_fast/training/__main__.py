"""``python -m mmace_fast.training`` entry point."""
import sys

from mmace_fast.training.cli import main

sys.exit(main())
