# Every target runs inside the project virtualenv, which `install` creates on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

PROTO_DIR := protos
SERVICES := consent notifier chat

# `protos` is also a directory: without .PHONY make would call the target up to date.
.PHONY: install protos run $(addprefix run-,$(SERVICES)) run-gateway test test-unit promtool lint migrate clean bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Python stubs and .pyi type stubs into ./novahouse and ./buf (gitignored); google/api/*.proto ships with
# googleapis-common-protos, the well-known types with grpcio-tools, buf/validate's descriptor with
# protovalidate (services/runtime/protogen.py).
protos: install
	rm -rf novahouse buf
	$(PY) -m services.runtime.protogen $(PROTO_DIR) .

# The whole stack: consent, notifier, chat and the gateway as four processes (services/launcher.py).
run: protos
	$(PY) -m services

$(addprefix run-,$(SERVICES)): run-%: protos
	$(PY) -m services.$*

# The gateway is no gRPC service (no migrations, no <NAME>_PORT): its own rule, since .PHONY targets
# skip implicit pattern rules.
run-gateway: protos
	$(PY) -m services.gateway

migrate: protos
	for s in $(SERVICES); do $(PY) -m services.$$s migrate || exit 1; done

# The alert rules are checked and unit-tested by Debian's promtool (package `prometheus`, also the real
# Prometheus the end-to-end suite scrapes the stack with), installed when missing.
test: protos promtool
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	promtool check config deploy/prometheus/prometheus.yml
	$(PY) -m pytest $(PYTEST_ARGS)

promtool:
	command -v promtool >/dev/null || $(APT_GET) install -y prometheus || ($(APT_GET) update && $(APT_GET) install -y prometheus)

# The use cases against in-memory fakes (tests/unit): no server, no database file, no network, which
# tests/unit/conftest.py enforces. Part of `test` as well. The unit tests need neither Hypothesis's
# pytest plugin (its @given runs without it) nor schemathesis's: not loading them saves a third of the
# run's start-up CPU time.
UNIT_PLUGINS_OFF := -p no:hypothesispytest -p no:schemathesis -p no:anyio
test-unit: protos
	$(PY) -m pytest $(UNIT_PLUGINS_OFF) tests/unit $(PYTEST_ARGS)

# Not part of `test`: the stack under load against the Flask baseline (bench/RESULTS.md). Installs the
# `bench` extra and Debian's `hey` and `wrk` load generators when missing (wrk runs the distinct-address
# loads, bench/distinct_emails.lua). BENCH_SCALE=0.1 for a quick try.
# A fresh machine may have no package lists yet: update them only when the first try fails.
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)
bench: protos $(BENCH_STAMP)
	command -v hey >/dev/null || $(APT_GET) install -y hey || ($(APT_GET) update && $(APT_GET) install -y hey)
	command -v wrk >/dev/null || $(APT_GET) install -y wrk || ($(APT_GET) update && $(APT_GET) install -y wrk)
	$(PY) -m bench

$(BENCH_STAMP): pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.bench-installed-*
	touch $@

# ruff, then mypy over services/ and bench/ ([tool.mypy] in pyproject.toml) against the generated stubs.
lint: protos
	$(PY) -m ruff check .
	$(PY) -m ruff format --check services tests bench
	$(PY) -m mypy

clean:
	rm -rf novahouse buf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
