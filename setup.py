"""Build the C++/Cython extension of mmace_fast.

Metadata lives in pyproject.toml; this file builds ``mmace_fast._core`` from
``src_cpp/`` (C++17, -O3) with Cython >= 3 and copies the shipped data sets (data/) into the
built package as ``mmace_fast/_data`` (mmace_fast.datasets reads them there when installed).
No OpenMP: the kernels are serial by design; concurrency comes from running replicas and
chains in threads that release the GIL (mmace_fast.mc.tempering), which OpenMP inside the
kernels would oversubscribe on the 2-core machines this runs on.
"""
import os
import shutil
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildExt(build_ext):
    """Per-compiler flags (optimised, debug with bounds-checked array views, sanitizers)."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        if ctype == "msvc":
            cflags, lflags = ["/O2", "/std:c++17"], []
        else:
            cflags = ["-O3", "-std=c++17", "-fno-math-errno", "-Wall", "-Wno-unused-function"]
            if os.environ.get("MMACE_NATIVE", "0") == "1":
                cflags.append("-march=native")
            lflags = []
            if os.environ.get("MMACE_DEBUG", "0") == "1":
                cflags = ["-O0", "-g", "-std=c++17", "-DMMACE_DEBUG_BOUNDS"]
            if os.environ.get("MMACE_SANITIZE", "0") == "1":   # .ci/sanitize
                san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
                cflags = ["-O1", "-g", "-std=c++17", "-fno-omit-frame-pointer",
                          "-DMMACE_DEBUG_BOUNDS"] + san
                lflags = san
        for ext in self.extensions:
            ext.extra_compile_args = cflags
            ext.extra_link_args = lflags
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
