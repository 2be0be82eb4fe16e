"""Build the C++/Cython extension of mmace_fast.

Metadata lives in pyproject.toml; this file builds ``mmace_fast._core`` from
``src_cpp/`` (C++17, -O3) with Cython >= 3 and copies the shipped data sets (data/) into the
built package as ``mmace_fast/_data`` (mmace_fast.datasets reads them there when installed).
OpenMP is probed by compiling a tiny program and enabled only if that works;
``mmace_fast.openmp_enabled()`` reports it.
"""
import os
import shutil
import sys
import tempfile
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
OPENMP_PROBE = r"""
#include <omp.h>
int main() { int n = 0;
#pragma omp parallel reduction(+:n)
  n += 1;
  return n > 0 ? 0 : 1; }
"""


def _compiler_works(compiler, flags, link_flags, src):
    """Return True if ``src`` compiles and links with the given flags."""
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "probe.cpp")
        with open(path, "w") as fh:
            fh.write(src)
        objs = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
        compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=link_flags)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """Per-compiler flags; OpenMP only if a probe program builds."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        if ctype == "msvc":
            cflags, lflags, omp_c, omp_l = ["/O2", "/std:c++17"], [], ["/openmp"], []
        else:
            cflags = ["-O3", "-std=c++17", "-fno-math-errno", "-Wall", "-Wno-unused-function"]
            if os.environ.get("MMACE_NATIVE", "0") == "1":
                cflags.append("-march=native")
            lflags, omp_c, omp_l = [], ["-fopenmp"], ["-fopenmp"]
            if os.environ.get("MMACE_DEBUG", "0") == "1":
                cflags = ["-O0", "-g", "-std=c++17", "-DMMACE_DEBUG_BOUNDS"]
            if os.environ.get("MMACE_SANITIZE", "0") == "1":   # .ci/sanitize
                san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
                cflags = ["-O1", "-g", "-std=c++17", "-fno-omit-frame-pointer",
                          "-DMMACE_DEBUG_BOUNDS"] + san
                lflags = san
        use_omp = os.environ.get("MMACE_NO_OPENMP", "0") != "1" and _compiler_works(
            self.compiler, omp_c, omp_l, OPENMP_PROBE)
        for ext in self.extensions:
            ext.extra_compile_args = cflags + (omp_c if use_omp else [])
            ext.extra_link_args = lflags + (omp_l if use_omp else [])
            ext.define_macros.append(("MMACE_OPENMP", "1" if use_omp else "0"))
        sys.stderr.write(f"mmace_fast: OpenMP {'enabled' if use_omp else 'disabled'}\n")
        super().build_extensions()


def extensions():
    sources = ["mmace_fast/_core.pyx"] + sorted(glob(os.path.join("src_cpp", "src", "*.cpp")))
    ext = Extension(
        "mmace_fast._core",
        sources=sources,
        include_dirs=[os.path.join("src_cpp", "include"), np.get_include()],
        language="c++",
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    return cythonize([ext], language_level=3,
                     compiler_directives={"boundscheck": False, "wraparound": False,
                                          "cdivision": True, "initializedcheck": False})


class BuildPy(build_py):
    """Also copy the shipped data sets into the built package (wheels, non-editable
    installs); an editable install reads the clone's data/ directly."""

    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "mmace_fast", "_data")
        os.makedirs(dest, exist_ok=True)
        for path in sorted(glob(os.path.join(HERE, "data", "*.extxyz.gz"))):
            shutil.copy2(path, dest)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt, "build_py": BuildPy})
