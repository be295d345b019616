# The two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test test-pg install lint migrate seed clean lock outdated messages docs-assets cluster cluster-stop

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs are reproducible: the exact versions of requirements/dev.lock (production
# installs requirements/prod.lock), then the project itself without resolving again.
$(STAMP): $(BIN)/python pyproject.toml requirements/dev.lock
	$(BIN)/pip install --quiet -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

# ReDoc's bundle for /redoc, pinned by clients/docs/package-lock.json (Swagger UI for
# /docs comes with the Python packages). Without npm, /redoc stays off.
DOCS_STAMP := clients/docs/node_modules/.package-lock.json
$(DOCS_STAMP): clients/docs/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix clients/docs --ignore-scripts --no-audit --no-fund --silent; \
	else echo "npm not found: /redoc stays off (Swagger UI at /docs works)"; fi

docs-assets: $(DOCS_STAMP)


# Message catalogs (docs/i18n.md): the .po files are the source, committed; the .mo
# files are compiled from them here, so a fresh clone, `make run` and `make test` have them.
# The catalogs carry no header (nothing that changes on every extraction, for clean merges),
# which Babel reads as "fuzzy": --use-fuzzy compiles them; no entry may be fuzzy (the test).
CATALOGS := $(wildcard points/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

%.mo: %.po | $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

install: $(STAMP) $(COMPILED) docs-assets

# After adding or changing a message in the code: extract every message, add the new
# ones to each catalog (then translate them in the .po; tests/unit/test_i18n_catalog.py
# fails until every message has its translation).
messages: install
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --no-wrap \
		--project changsha-credit -o points/translations/messages.pot api points incentives
	$(BIN)/pybabel update -i points/translations/messages.pot -d points/translations \
		--no-wrap --ignore-obsolete --omit-header

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: seed
	$(BIN)/flask run --host 127.0.0.1 --port 8000

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite on the machine's PostgreSQL and Redis (their own test database and Redis db
# number, see README); starts nothing: says so when either is not answering.
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
test-pg: install
	@$(BIN)/python -c "import sqlalchemy as s; s.create_engine('$(TEST_PG_URL)').connect().close()" 2>/dev/null \
	  || { echo "PostgreSQL is not answering at $(TEST_PG_URL) (set TEST_PG_URL)"; exit 1; }
	@$(BIN)/python -c "import redis; redis.Redis.from_url('$(TEST_REDIS_URL)').ping()" 2>/dev/null \
	  || { echo "Redis is not answering at $(TEST_REDIS_URL) (set TEST_REDIS_URL)"; exit 1; }
	DATABASE_URL=$(TEST_PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# After changing a dependency in pyproject.toml: pin the tested versions again.
lock: $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --quiet -o requirements/prod.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements/dev.lock

# Which locked versions have newer releases (nothing is upgraded).
outdated: install
	$(BIN)/pip list --outdated

clean:
	rm -rf $(VENV) instance .pytest_cache

# The deployment on this machine, on loopback ports 16000+ (deploy/cluster; docs/deployment.md).
cluster: install
	deploy/cluster start

cluster-stop:
	deploy/cluster stop
