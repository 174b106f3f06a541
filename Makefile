# The two commands a newcomer needs: `make serve` and `make test`. Both set everything up first.
# After either, `bin/hotasr ...` runs the command line on the same database and model cache.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/pytest --durations=15

.PHONY: serve test test-fast install lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# The speaker-embedding model for diarization (Resemblyzer's GE2E, Apache-2.0, 17 MB). Its
	# metadata requires torch, which hotasr never imports (hotasr.diarization.model reads the weights
	# with numpy), so it cannot be a dependency in pyproject.toml: install it without its dependencies.
	$(BIN)/pip install --quiet --no-deps resemblyzer==0.1.4
	touch $(STAMP)

install: $(STAMP)

# Serves on the embedded defaults: SQLite under ./var/data, model cache under ./var/cache (bin/hotasr sets them).
serve: $(STAMP)
	bin/hotasr serve

lint: $(STAMP)
	$(BIN)/ruff check hotasr tests bench

# mypy, strict, on hotasr/ (settings in pyproject.toml).
typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite: real servers, SQLite and PostgreSQL, Whisper models, Chromium. Its 15 slowest tests are listed.
test: lint typecheck
	$(PYTEST)

# Pure and in-process tests only (no model, no server process, no PostgreSQL, no browser): well under a minute.
test-fast: lint typecheck
	HOTASR_TEST_FAST=1 $(PYTEST) -m "not model and not paced" -q

bench: $(STAMP)
	$(BIN)/python bench/vocab_api.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
