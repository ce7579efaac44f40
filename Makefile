# The README's two commands: `make run` and `make test`. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-$(shell cksum requirements.txt | cut -d' ' -f1)
DEV := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PIP := $(BIN)/pip install --disable-pip-version-check --progress-bar on

.PHONY: run test mart bench

$(BIN)/python:
	@echo "Creating the virtual environment in $(VENV) ..."
	$(PY) -m venv $(VENV)

$(RUNTIME): requirements.txt | $(BIN)/python
	@echo "Installing the runtime packages (requirements.txt; a few minutes on a fresh machine) ..."
	$(PIP) -r requirements.txt
	rm -f $(VENV)/.runtime-* && touch $@

$(DEV): requirements.txt requirements-dev.txt $(RUNTIME)
	@echo "Installing the test tools (requirements-dev.txt) ..."
	$(PIP) -r requirements-dev.txt
	rm -f $(VENV)/.dev-* && touch $@

run: $(RUNTIME)
	$(BIN)/python -m data_access.synth.generate --if-absent
	$(BIN)/python -m jobs.churn ensure
	-$(BIN)/python -m jobs.action_effects --seed-demo > /dev/null  # demo stores only
	$(BIN)/python -m jobs.precompute --if-stale  # campaign effects, rival scores, channel values
	$(BIN)/streamlit run app.py

test: $(DEV)
	$(BIN)/python -m pytest

mart: $(RUNTIME)
	$(BIN)/python -m data_access.synth.generate

bench: $(DEV)
	$(BIN)/python -m bench.sandbox
