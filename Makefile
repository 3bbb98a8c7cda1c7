# gdl — every target installs what is missing first, so on a fresh machine with only python3
# `make train` and `make test` are the whole set-up.
#
#   make install    create .venv and install gdl with its dependencies (idempotent)
#   make train      run the default experiment (QM9 HOMO with EGNN on a small subset, CPU)
#   make test       the default test suite (under ~10 minutes on 2 cores)
#   make test-full  every test, including those marked `slow`
#   make bench      speed / memory benchmarks (benchmarks/README.md)
#   make lint       ruff
#
# Use an existing environment instead of .venv with `make VENV=/path/to/env ...`.
# Set PIP_FIND_LINKS=/dir/with/wheels to install torch-cluster from a prebuilt wheel.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.gdl-installed
TORCH_PIN ?= torch==2.13.0
ARGS   ?=

.PHONY: install train test test-full bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	@# torch first, pinned to the CPU build when absent (an unpinned torch pulls a multi-GB CUDA build).
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_PIN)"
	@# torch-cluster has no PyPI wheel; it compiles against the installed torch (~15 minutes once; pip caches it).
	@$(PY) -c "import torch_cluster" 2>/dev/null || $(PIP) install --no-build-isolation torch-cluster
	@# the core install is light (gdl.nn, models, symmetry, groups, testing); make installs every extra
	$(PIP) install -e ".[dev,all]"
	@touch $@

install: $(STAMP)

train: $(STAMP)
	$(VENV)/bin/gdl-train $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

test-full: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow" $(ARGS)

bench: $(STAMP)
	@# the peers (egnn-pytorch, se3-transformer-pytorch, nequip; SchNet is PyG's) are measured beside gdl: the `peers` extra
	@$(PY) -c "import egnn_pytorch, se3_transformer_pytorch, nequip" 2>/dev/null || $(PIP) install -e ".[peers]"
	$(PY) -m benchmarks.run $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check gdl tests benchmarks examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
