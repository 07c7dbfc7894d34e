# `make run` and `make test` do all the set-up themselves on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test bench gpu-wheels gpu-check lint clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

ROBEL := robel==0.1.2

# torch first: the CPU build pinned here, unless the venv already has a torch (e.g. your CUDA build).
# ROBEL: --no-deps (it pins gym<0.14 and mujoco-py). Its wheel metadata has an invalid version
# specifier that pip >= 24.1 refuses, so if the venv's pip refuses it, a pip 24.0 kept in a
# temporary folder installs it; the venv's own pip is left as it is.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e ".[test,analysis,panda,robel]"
	$(PY) -m pip install --no-deps "$(ROBEL)" || { \
	  tmp=$$(mktemp -d) && $(PY) -m pip install -q --target "$$tmp" "pip<24.1" && \
	  PYTHONPATH="$$tmp" $(PY) -m pip install --no-deps "$(ROBEL)"; rc=$$?; rm -rf "$$tmp"; exit $$rc; }
	touch $(STAMP)

run: $(STAMP)
	$(PY) src/run.py env=metaworld/reach preset=cpu

test: $(STAMP)
	$(PY) -m pytest -q

# Speed measurements (minutes; not tests): prints tables and writes bench_results/speed.csv.
bench: $(STAMP)
	$(PY) benchmarks/speed.py

# GPU check (README, "GPU check"). Here, where PyPI is reachable: the wheels it carries, into gpu_check/wheels/.
gpu-wheels: $(STAMP)
	$(PY) gpu_check/fetch.py

# There, on a CUDA machine without network: the image's python3 (CUDA torch), no venv. At most 7 minutes.
OUT_DIR ?= gpu_check_results
gpu-check:
	$(PYTHON) gpu_check/check.py --out $(OUT_DIR)

lint: $(STAMP)
	$(PY) -m ruff check src tests analysis launchers benchmarks gpu_check

clean:
	rm -rf runs outputs multirun .pytest_cache gpu_check_results
