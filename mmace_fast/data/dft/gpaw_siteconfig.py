# GPAW build configuration used for the mmace_fast reference data (see DATA.md).
# Use with:  GPAW_CONFIG=$PWD/mmace_fast/data/dft/gpaw_siteconfig.py pip install gpaw==26.7.0
# Serial build (one process per calculation), FFTW3 and OpenBLAS from Debian, libxc from Debian.
# GPAW 26.7 compiles its C sources as C++: the compiler must be a C++ driver (g++), otherwise
# gcc treats the .c files as C and fails on '#include <algorithm>'.
# flake8: noqa
compiler = 'g++'
mpi = False
fftw = True
libraries += ['fftw3', 'openblas']
