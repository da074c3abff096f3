# Two commands do all the set-up on a fresh machine:
#   make fuzz   create .venv, build the C core, fuzz the reference Raft node
#   make test   create .venv, build the C core, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The bench extra (SimPy for bench_core.py, matplotlib for bench_bugs.py) only for `make bench`.
BENCH_STAMP := $(VENV)/.installed-bench
# Extra libFuzzer flags for `make fuzz`, e.g. FUZZ_FLAGS="-max_total_time=600 -jobs=2"
FUZZ_FLAGS ?=
PYTEST_FLAGS ?=

.PHONY: fuzz test random corpus bench clean

$(STAMP): pyproject.toml setup.py csrc/core.c csrc/core.h src/raftfuzz/core/_build.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# New corpus entries go to artifacts/corpus; the committed seeds in corpus/
# are read only, so fuzzing never dirties the repository.
fuzz: $(STAMP)
	mkdir -p artifacts/corpus
	$(PY) -m raftfuzz.atheris_main artifacts/corpus corpus $(FUZZ_FLAGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_FLAGS)

random: $(STAMP)
	$(PY) -m raftfuzz random

corpus: $(STAMP)
	rm -f corpus/*
	$(PY) -m raftfuzz seed-corpus corpus

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/raftfuzz/core/_native*.so artifacts
