# The two commands that set everything up on a fresh machine:
#   make run    migrate, seed demo data, start every service, print where to look
#   make test   run the whole test suite (its own database, never the one `make run` uses)
SHELL := /bin/bash
UV ?= $(shell command -v uv || echo "$(HOME)/.local/bin/uv")
export UV_COMPILE_BYTECODE := 1

.PHONY: run test install services bench bench-capacity lint

install:  ## the virtual environment, exactly as uv.lock says (uv itself from PyPI if missing)
	@command -v uv >/dev/null || test -x "$(UV)" || python3 -m pip install --user --quiet uv \
		|| python3 -m pip install --user --quiet --break-system-packages uv
	@$(UV) sync --frozen --quiet

services:  ## PostgreSQL and Redis: the local ones, else docker compose, else say what is missing
	@scripts/ensure-services

run: install services
	@UV=$(UV) scripts/run-local

test: install services  ## also the Debian programs the tests drive (scripts/ensure-test-tools)
	@scripts/ensure-test-tools
	@$(UV) run --frozen pytest

bench: install services  ## the four benchmarks, one after the other (~12 minutes; see bench/README.md)
	@$(UV) run --frozen python -m bench.registry; r=$$?; \
	$(UV) run --frozen python -m bench.notifier || r=1; \
	$(UV) run --frozen python -m bench.adoption || r=1; \
	$(UV) run --frozen python -m bench.lanes || r=1; exit $$r

bench-capacity: install services  ## the capacity model's per-unit costs at two sizes (~5 minutes; docs/capacity.md)
	@$(UV) run --frozen python -m bench.adoption_capacity

lint: install  ## ruff (style and bugs) and mypy (types; strict on shared/)
	@$(UV) run --frozen ruff check . && $(UV) run --frozen ruff format --check . && $(UV) run --frozen mypy
