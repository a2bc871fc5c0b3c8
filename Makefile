# Two commands on a fresh clone: `make run` (the console with a demo) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WEB_PORT := $(PORT)
export WEB_PORT

.PHONY: install bytecode run test bench check clean

install: $(VENV)/.installed bytecode

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# The project's modules compiled ahead, as a deployment's image has them: where PYTHONDONTWRITEBYTECODE
# is set, every process (each command, worker, web process) compiled some 160 modules on start, a quarter
# of a second. Up-to-date files are skipped.
bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q console lifecycle integrations benchmarks manage.py > /dev/null

run: install
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py seed_demo
	scripts/demo-env
	set -a && . var/demo.env && $(PY) manage.py connect_demo_store
	set -a && . var/demo.env && $(PY) manage.py connect_crm hubspot --name "HubSpot sandbox" --limit 190 --no-check \
		--token "$$CRM_SANDBOX_TOKEN" --base-url "http://127.0.0.1:$$CRM_SANDBOX_PORT"
	@echo ""
	@echo "Aftercare console: http://127.0.0.1:$(WEB_PORT)/   (web, worker, beat, the sandbox shop and the sandbox CRM start below; Ctrl-C stops all)"
	@echo "Demo logins (password: $${AFTERCARE_DEMO_PASSWORD:-aftercare-demo}): manager, agent (and amira, bruno, … jonas), ops"
	@. var/demo.env && echo "Sandbox CRM (HubSpot): http://127.0.0.1:$$CRM_SANDBOX_PORT/_sandbox/state?type=contacts (its contacts), /_sandbox/state?type=deals"
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho start -f Procfile -e var/demo.env

test: install
	$(VENV)/bin/pytest -n auto -p no:cacheprovider

bench: install
	$(PY) benchmarks/run.py

# The drill (benchmarks/drill.py): a month of SCALE customers with faults, every invariant counted; heavy.
SCALE ?= 20000
.PHONY: drill
drill: install
	$(PY) benchmarks/drill.py --scale $(SCALE)

check: install
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_ENV=production SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		AFTERCARE_ENCRYPTION_KEY="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
		ALLOWED_HOSTS=console.example.com $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var staticfiles
