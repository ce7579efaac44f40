# The README's two commands: `make run` and `make test`. Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test mart bench

$(STAMP): requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/python -m data_access.synth.generate --if-absent
	$(BIN)/streamlit run app.py

test: $(STAMP)
	$(BIN)/python -m pytest

mart: $(STAMP)
	$(BIN)/python -m data_access.synth.generate

bench: $(STAMP)
	$(BIN)/python -m bench.sandbox
