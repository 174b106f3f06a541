# The two commands a newcomer needs: `make serve` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Embedded defaults for a checkout: everything the server writes stays under ./var (gitignored).
export HOTASR_DATA_DIR ?= $(CURDIR)/var/data
export HOTASR_MODEL_CACHE_DIR ?= $(CURDIR)/var/cache

.PHONY: serve test install lint bench clean

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

serve: $(STAMP)
	$(BIN)/hotasr serve

lint: $(STAMP)
	$(BIN)/ruff check hotasr tests bench

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/vocab_api.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
