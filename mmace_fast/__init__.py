"""mmace_fast: machine-learned magnetism (mMACE), frozen C++ evaluation and spin Monte Carlo."""
import logging

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())

