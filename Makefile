# insitu: `make run` to try it, `make test` to test it. Both are safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: install install-test run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml package-lock.json
	$(BIN)/pip install --quiet -e '.[celery,azure,gcs]'
	# The portal's htmx, served by insitu itself: nothing is loaded from a CDN.
	npm ci --omit=dev --no-audit --no-fund --silent
	touch $@

## install: the virtualenv with insitu and every provider's SDK, and the portal's htmx
install: $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[celery,azure,gcs,test]'
	# axe-core, which the portal's browser tests inject to check accessibility.
	npm ci --no-audit --no-fund --silent
	for script in scripts/test-tools/*.sh; do bash "$$script" || exit 1; done
	touch $@

## install-test: install plus the test tools (emulators, ffmpeg, chromium)
install-test: $(TEST_STAMP)

## run: set up, migrate ./var/insitu.db and serve on http://127.0.0.1:8000
run: install
	mkdir -p var
	$(BIN)/insitu db upgrade
	$(BIN)/insitu serve --host 127.0.0.1 --port 8000

## test: set up everything the tests need, then run the whole suite
test: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/pytest -n 2 --dist loadfile -q

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: install-test
	$(BIN)/python bench/import_throughput.py
	$(BIN)/python bench/signed_urls.py
	$(BIN)/python bench/probe_bytes.py
	$(BIN)/python bench/circulation.py
	$(BIN)/python bench/reconcile.py

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
