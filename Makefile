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
