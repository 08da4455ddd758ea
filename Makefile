# The two commands that set everything up on a fresh machine:
#   make run    migrate, seed demo data, start every service, print where to look
#   make test   run the whole test suite (its own database, never the one `make run` uses)
SHELL := /bin/bash
UV ?= $(shell command -v uv || echo "$(HOME)/.local/bin/uv")
export UV_COMPILE_BYTECODE := 1
WEB := services/web

.PHONY: run test install services bench bench-capacity lint

install: $(WEB)/static/vendor/.built  ## the virtual environment as uv.lock says (uv from PyPI if missing); the web's npm packages
	@command -v uv >/dev/null || test -x "$(UV)" || python3 -m pip install --user --quiet uv \
		|| python3 -m pip install --user --quiet --break-system-packages uv
	@$(UV) sync --frozen --quiet

# The web pages' front-end packages (htmx, uPlot; axe-core for the tests), as package-lock.json says,
# copied into services/web/static/vendor (git-ignored). Again only when the lock or the copy list changes.
$(WEB)/static/vendor/.built: $(WEB)/package-lock.json $(WEB)/build-assets.mjs
	@if command -v npm >/dev/null; then \
		cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build && touch static/vendor/.built; \
	else echo "warning: npm is missing (Debian: apt install npm): the pages will lack htmx and uPlot, the browser tests axe-core" >&2; fi

services:  ## PostgreSQL and Redis: the local ones, else docker compose, else say what is missing
	@scripts/ensure-services

run: install services
	@UV=$(UV) scripts/run-local

test: install services  ## also the Debian programs the tests drive (scripts/ensure-test-tools)
	@scripts/ensure-test-tools
	@$(UV) run --frozen pytest

bench: install services  ## the five benchmarks, one after the other (~12 minutes; see bench/README.md)
	@$(UV) run --frozen python -m bench.registry; r=$$?; \
	$(UV) run --frozen python -m bench.notifier || r=1; \
	$(UV) run --frozen python -m bench.adoption || r=1; \
	$(UV) run --frozen python -m bench.lanes || r=1; \
	$(UV) run --frozen python -m bench.web || r=1; exit $$r

bench-capacity: install services  ## the capacity model's per-unit costs at two sizes (~5 minutes; docs/capacity.md)
	@$(UV) run --frozen python -m bench.adoption_capacity

lint: install  ## ruff (style and bugs) and mypy (types; strict on shared/)
	@$(UV) run --frozen ruff check . && $(UV) run --frozen ruff format --check . && $(UV) run --frozen mypy
