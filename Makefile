# chargewatch - `make` or `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The compiled fast path (native/, Rust): rebuilt when its sources change.
NATIVE_SRC   := native/pyproject.toml native/Cargo.toml native/Cargo.lock native/chargewatch_native.pyi $(wildcard native/src/*.rs)
NATIVE_STAMP := $(VENV)/.native-$(shell cat $(NATIVE_SRC) | cksum | cut -d' ' -f1)
# rustup installs cargo here; a login shell has it on PATH, make's may not.
export PATH := $(HOME)/.cargo/bin:$(PATH)

# Simulated day for `make run`: simulated seconds per wall second (2880 = a day in 30 s).
RUN_SPEED ?= 2880
RUN_STATIONS ?= 50
RUN_TARIFF ?= deploy/tariffs/example.json

# Debian packages the tests need (promtool tests the alert rules for real).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install kafka-jars system-deps run test test-unit lint format bench up down clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SRC)
	@command -v cargo >/dev/null || { echo "native/ needs Rust's cargo (https://rustup.rs)"; exit 1; }
	$(BIN)/python -m pip install --quiet ./native
	@rm -f $(VENV)/.native-* && touch $@

install: $(STAMP) $(NATIVE_STAMP) ## create .venv and install chargewatch (with its compiled fast path) and its dev tools

kafka-jars: ## fetch the Kafka broker jars from Maven Central (cached)
	@bash deploy/kafka.sh fetch

system-deps: ## Debian packages the tests use: promtool (package prometheus)
	@command -v promtool >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus && \
		{ $(SUDO) systemctl disable --now prometheus 2>/dev/null || true; }; }

run: install kafka-jars ## the main job: broker, worker, sink, a simulated day, summary
	$(BIN)/chargewatch run --stations $(RUN_STATIONS) --speed $(RUN_SPEED) --tariff $(RUN_TARIFF)

test: install kafka-jars system-deps lint ## lint, then every test (unit + integration on a real broker)
	$(BIN)/pytest

test-unit: install ## only the fast tests of the pure core
	$(BIN)/pytest tests/unit

lint: install ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install kafka-jars ## speed and scale figures with their targets (replay, worker, scale-out, recovery, latency, memory)
	$(BIN)/python -m bench $(BENCH_ARGS)

up: kafka-jars ## start the project's Kafka broker (127.0.0.1:9092, data in var/kafka)
	@bash deploy/kafka.sh up

down: ## stop the project's Kafka broker
	@bash deploy/kafka.sh down

clean: down ## remove local state (var/) and caches, keeps .venv
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis native/target
