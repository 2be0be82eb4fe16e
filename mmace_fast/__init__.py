"""mmace_fast: machine-learned magnetism (mMACE), frozen C++ evaluation and spin Monte Carlo."""
import logging

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())


def openmp_enabled() -> bool:
    """Whether the compiled extension was built with OpenMP."""
    from mmace_fast import _core
    return bool(_core.openmp_enabled())
