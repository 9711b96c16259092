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

run: $(STAMP)
	$(BIN)/nasforge search --space nb201 --benchmark analog-nb201 --metric baseline_accuracy \
		--strategy rea --trials 300 --seed 0 --storage sqlite:///nasforge-run.db --study make-run-$$(date +%s)

bench: $(STAMP)
	$(BIN)/python benchmarks/nb201_protocol.py
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
