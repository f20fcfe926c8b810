# The README's two commands: `make validate` and `make test`. Both set up .venv if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The tests are many small matrices; on a few cores OpenBLAS/OpenMP threading costs more
# than it gains there (BUG steps at small ranks run ~4x slower with 2 threads). Benchmarks
# keep the library defaults.
SMALL  := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: validate test test-all bench install clean lint
.PHONY: gpu-check gpu-wheels
.PHONY: wheel-check mace-venv
.PHONY: docs docs-full docs-screenshots record-validation record-bench

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test,lint]' -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

validate: $(STAMP)
	$(SMALL) $(VENV)/bin/tnkit validate --quick

test: $(STAMP)
	$(SMALL) $(PY) -m pytest -q

test-all: $(STAMP)
	$(SMALL) $(PY) -m pytest -q -m "slow or not slow"

# `make lint`: ruff (lint and format), mypy (configured in pyproject.toml), the import-layer
# contracts (import-linter, pyproject.toml) and the import rules import-linter cannot express.
LINT_PATHS := tnkit physics tests validation .ci docs

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) .ci/import_rules.py tnkit physics

# `make docs`: the documentation site into docs/_build/html, warnings as errors; the short gallery
# examples (docs/examples/plot_*.py) run, the long ones (long_*.py) only in `make docs-full`.
# The API pages, the validation and benchmark tables (from validation/records/) are generated.
$(VENV)/.docs: $(STAMP)
	$(PY) -m pip install -q -e '.[all,docs]' -c constraints.txt
	touch $(VENV)/.docs

DOCS_OPTS ?= -W --keep-going -q -j 1

docs: $(VENV)/.docs
	$(SMALL) MPLBACKEND=Agg $(VENV)/bin/sphinx-build -b html $(DOCS_OPTS) docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

docs-full: $(VENV)/.docs
	$(SMALL) MPLBACKEND=Agg TNKIT_DOCS_GALLERY=all $(VENV)/bin/sphinx-build -b html $(DOCS_OPTS) -E docs docs/_build/html-full
	@echo "docs: docs/_build/html-full/index.html"

# Screenshots of the index, an API page and a gallery page in headless Chromium (apt-get install chromium).
docs-screenshots:
	$(PY) docs/screenshots.py

# The records the README's and the documentation's tables are rendered from: a quick validation
# run, and the last `make bench` (results/bench.json). Review the run, then commit the record.
record-validation: $(STAMP)
	$(SMALL) $(VENV)/bin/tnkit validate --quick --no-progress --json validation/records/validation-quick.json
	$(VENV)/bin/tnkit validate --from-json validation/records/validation-quick.json --readme README.md > /dev/null

record-bench: $(STAMP)
	test -f results/bench.json || { echo "record-bench: run 'make bench' first (results/bench.json is missing)"; exit 1; }
	mkdir -p validation/records && cp results/bench.json validation/records/bench.json
	$(PY) validation/benchmarks/run.py --from-json validation/records/bench.json --readme README.md > /dev/null

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install -q -e '.[all,test,bench]' -c constraints.txt
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(PY) validation/benchmarks/run.py --json results/bench.json

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis docs/_build docs/api docs/_generated docs/gallery

# `make mace-venv`: mace-torch (pins e3nn 0.4.4) in its own .venv-mace, for validation/potentials/_mace_client.py.
MACE_VENV  := .venv-mace
MACE_PY    := $(MACE_VENV)/bin/python
MACE_STAMP := $(MACE_VENV)/.installed

$(MACE_STAMP): validation/potentials/mace-constraints.txt
	test -x $(MACE_PY) || $(PYTHON) -m venv $(MACE_VENV)
	$(MACE_PY) -m pip install -q --upgrade pip
	$(MACE_PY) -m pip install -q mace-torch -c validation/potentials/mace-constraints.txt
	PYTHONWARNINGS=ignore $(SMALL) $(MACE_PY) validation/potentials/_mace_peer.py check - $(MACE_VENV)/check.json
	touch $(MACE_STAMP)

mace-venv: $(MACE_STAMP)

# `make wheel-check`: build the wheel from a copy of the sources, install it with its
# dependencies pinned by constraints.txt in a fresh venv (no torch), and run `tnkit info`,
# `tnkit data list`, `tnkit data generate svd_reference` and `tnkit validate --quick` from an
# empty folder, the data going to a temporary per-user data folder (about a minute).
wheel-check: $(STAMP)
	$(SMALL) $(PY) -m pytest -q -p no:cacheprovider -m slow tests/tnkit/cli/test_wheel.py

# `make gpu-check`: on a machine with an NVIDIA GPU, the CuPy and torch-CUDA tests and the GPU
# benchmark cases within 8 minutes, results into validation/benchmarks/RESULTS.md (and $OUT);
# elsewhere one line and exit 0. No $(STAMP): a lent GPU machine has its own CUDA torch and no
# network, and pip must not swap it for the CPU torch pinned here. GPU_CHECK_ARGS passes options
# (--out DIR, --python PATH, --online, --budget S). `make gpu-wheels` fetches into .whl/, to carry
# along, the pure-python wheels such a machine may lack (versions from constraints.txt).
GPU_PY     := $(if $(wildcard $(PY)),$(PY),$(PYTHON))
GPU_WHEELS := $(shell grep -E '^(array[-_]api[-_](compat|strict)|opt[-_]einsum|opt[-_]einsum[-_]fx|e3nn|tqdm|pytest[-_]timeout)==' constraints.txt)

gpu-check:
	@$(GPU_PY) validation/benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

gpu-wheels:
	$(GPU_PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
