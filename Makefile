# The two commands a new user needs:
#   make run   start the whole product on SQLite with demo data (Ctrl-C stops everything)
#   make test  run the test suite (SQLite; set TEST_DATABASE_URL for PostgreSQL)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv clean chromium

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) scripts/run_demo.py

# Before anything else: the browser tests need Debian's chromium (installed
# through apt-get when possible, else one line that says what to install).
chromium:
	@sh scripts/ensure_chromium.sh

test: chromium $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance test-output
