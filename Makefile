# The two commands of the README:
#   make run    the main job: sciml run workflows/quickstart.yaml
#   make test   the test suite (what .ci/run calls)
# Each creates .venv with Python 3.12 and installs sciml[all,dev] when missing. pip keeps no
# cache: torch's CUDA wheels fill ~6 GB in .venv and would take as much again in ~/.cache/pip.

PYTHON ?= python3.12
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test docs bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[all,dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/sciml run workflows/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/python docs/build_api.py docs/api

bench: $(STAMP)
	$(BIN)/sciml bench solvers --json bench-results/solvers.json

clean:
	rm -rf runs bench-results docs/api .pytest_cache
