# make test: create .venv when missing, install torch (pinned CPU build) and nasforge with its
# test extras, run the whole test suite. make run: same set-up, then the main job.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: test run install bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[test,peers]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

RUN_ID := $(shell date +%Y%m%d-%H%M%S)
RUN_DB ?= sqlite:///nasforge-run.db

# The main job: the default strategy (adaptive-ea) on MNIST-1D (NB201 cells, C=8, N=2; 60 trials of 5 epochs in 2 worker processes of one
# thread each), retrain the best on train+validation for 8 epochs beside 50 random architectures of the same
# space trained the same way (2 worker processes of one thread after the winner's first training), export it.
# See README and benchmarks/main_job.py.
run: $(STAMP)
	$(BIN)/nasforge search --task mnist1d --space nb201 -P C=8 -P N=2 \
		--trials 60 --epochs 5 --workers 2 --seed 0 \
		--storage $(RUN_DB) --study mnist1d-$(RUN_ID)
	$(BIN)/nasforge train --study mnist1d-$(RUN_ID) --storage $(RUN_DB) --epochs 8 --threads 1 --workers 2 --repeats 3 \
		--baseline-random 50 --seed 0 --out runs/mnist1d-$(RUN_ID)
	$(BIN)/nasforge export runs/mnist1d-$(RUN_ID)

bench: $(STAMP)
	$(BIN)/python benchmarks/nb201_protocol.py
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/training_overhead.py
	$(BIN)/python benchmarks/parallel_speedup.py
	$(BIN)/python benchmarks/digits_search.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
