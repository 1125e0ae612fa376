# Development entry points. Each target bootstraps .venv first (bin/bootstrap):
# it is created when missing and the project installed with its dev tools
# whenever pyproject.toml changed since the last install. Only Python 3.11+
# is needed; PYTHON=/path/to/python3 picks another interpreter.

VENV := .venv
PYTEST_ARGS ?=

.PHONY: bootstrap run test lint format bench

bootstrap:
	@bin/bootstrap

# Migrate, create the superuser named by DJANGO_SUPERUSER_USERNAME and
# DJANGO_SUPERUSER_PASSWORD (if given), then run web, worker and one beat
# together; Ctrl-C stops all three.
run: bootstrap
	@bin/run

# Extra pytest arguments: make test PYTEST_ARGS='-k schedule -x'
test: bootstrap
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: bootstrap
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every benchmark under bench/ ends with one JSON line of ratios and targets.
bench: bootstrap
	@set -e; found=0; \
	for script in bench/*.py; do \
		[ -f "$$script" ] || continue; \
		case "$$(basename "$$script")" in _*) continue ;; esac; \
		found=1; echo "== $$script"; \
		DJANGO_SETTINGS_MODULE=portal.settings $(VENV)/bin/python "$$script"; \
	done; \
	if [ "$$found" = 0 ]; then echo "make bench: no benchmark scripts in bench/" >&2; exit 1; fi
