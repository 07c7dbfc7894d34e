# `make run` and `make test` do all the set-up themselves on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first: the CPU build pinned here, unless the venv already has a torch (e.g. your CUDA build).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e ".[test,panda]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) src/run.py env=metaworld/reach preset=cpu

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests analysis launchers

clean:
	rm -rf runs outputs multirun .pytest_cache
