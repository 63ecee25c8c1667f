# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench chaos venv env demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Local secrets for `make run`, made once and kept in .env (never committed).
.env:
	@$(PYTHON) -c "import secrets,base64; \
print('DEBUG=1'); \
print('LMO_SIMULATED_CLOCK=1'); \
print('SECRET_KEY=' + secrets.token_urlsafe(50)); \
print('LMO_WEBHOOK_SECRETS=whsec_' + base64.b64encode(secrets.token_bytes(24)).decode()); \
print('DEMO_PASSWORD=' + secrets.token_urlsafe(9))" > .env
	@echo "Wrote .env with local secrets."

env: .env

demo: venv .env
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap_demo

run: demo
	@# honcho sets PORT for every process it starts, so the web port travels as LMO_PORT.
	LMO_HOST=$(HOST) LMO_PORT=$(PORT) $(BIN)/honcho start -f Procfile

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python bench/run_all.py

# Real processes on PostgreSQL and Redis under injected faults (see chaos/run.py); about
# 10-15 minutes. CHAOS_ARGS=--short runs what CI runs; CHAOS_SOAK_SECONDS lengthens the soak.
chaos: venv
	$(BIN)/python -m chaos.run $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var db.sqlite3
