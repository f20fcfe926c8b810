# The README's two commands: `make validate` and `make test`. Both set up .venv if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The tests are many small matrices; on a few cores OpenBLAS/OpenMP threading costs more
# than it gains there (BUG steps at small ranks run ~4x slower with 2 threads). Benchmarks
# keep the library defaults.
SMALL  := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: validate test test-all bench install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]' -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

validate: $(STAMP)
	$(SMALL) $(VENV)/bin/tnkit validate --quick

test: $(STAMP)
	$(SMALL) $(PY) -m pytest -q

test-all: $(STAMP)
	$(SMALL) $(PY) -m pytest -q -m "slow or not slow"

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install -q -e '.[all,test,bench]' -c constraints.txt
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(PY) validation/benchmarks/run.py --json results/bench.json

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
