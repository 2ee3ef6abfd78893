# Two commands do all setup on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Azurite (Microsoft's storage emulator, from npm) for the blob tests and make demo: one exact version, installed here
# and only found by them (amlmon/emulator/azurite.py reads this line).
AZURITE_VERSION := 3.35.0
AZURITE_STAMP   := $(VENV)/azurite/.installed-$(AZURITE_VERSION)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install test unit e2e lint bench completions demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[dev,demo]'
	@touch $(STAMP)

$(AZURITE_STAMP): | $(STAMP)
	@command -v npm >/dev/null || { echo "npm (Node 18+) is needed to install Azurite for the tests" >&2; exit 1; }
	@rm -f $(VENV)/azurite/.installed-*
	@npm install --prefix $(VENV)/azurite --save-exact --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)
	@touch $(AZURITE_STAMP)

install: $(STAMP) $(AZURITE_STAMP)

test: $(STAMP) $(AZURITE_STAMP)
	@$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

unit: $(STAMP)
	@$(BIN)/python -m pytest -q tests/unit

e2e: $(STAMP) $(AZURITE_STAMP)
	@$(BIN)/python -m pytest -q tests/e2e

lint: $(STAMP)
	@$(BIN)/ruff check amlmon tests
	@$(BIN)/ruff format --check amlmon tests
	@$(BIN)/mypy

bench: $(STAMP)
	@$(BIN)/python -m tests.bench

completions: $(STAMP)
	@$(BIN)/python -m amlmon.cli.completion_gen completions

demo: $(STAMP)
	@$(BIN)/python -m amlmon.emulator.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
