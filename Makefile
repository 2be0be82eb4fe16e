# Small task runner. `make test` and `make demo` are the two commands in README.md.
PY    ?= python3
VENV  ?= .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.mmace_installed

.PHONY: install build lint test test-slow test-sanitize demo bench-quick clean

# torch is pinned to the local CPU wheel (an unpinned torch pulls CUDA packages).
$(STAMP): pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "setuptools>=77" wheel "Cython>=3.0" numpy
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-build-isolation -e ".[train,test,mpi]"
	touch $(STAMP)

install: $(STAMP)

# (re)compile the C++/Cython extension in place; a no-op when nothing changed
build: install
	$(BIN)/python setup.py -q build_ext --inplace

lint: install
	$(BIN)/ruff check mmace_fast benchmarks tests setup.py

test: build
	$(BIN)/python -m pytest -q

test-slow: build
	$(BIN)/python -m pytest -q -m slow

# the C++-heavy tests under AddressSanitizer + UBSan, in a copy (build/sanitize)
test-sanitize: install
	PY=$(abspath $(BIN))/python bash .ci/sanitize

demo: build
	$(BIN)/python -m mmace_fast.demo

bench-quick: build
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf build mmace_fast/_core*.so mmace_fast/_core.cpp
