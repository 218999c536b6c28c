# aiserve-gpuproxy: `make run` starts the server on embedded defaults, `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Optimised without LTO: quick to build, fast enough to serve. `make build-prod` uses full LTO.
PROFILE ?= fastrel

.PHONY: help run test lint rust-test py-test fuzz stubtest wheel-check bench build-prod develop clean proto

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet 'maturin>=1.8,<2'

develop: $(VENV)/bin/activate ## build the Rust extension and install the project (+ test tools) into .venv
	$(VENV)/bin/maturin develop --quiet --profile $(PROFILE) --extras test

run: develop ## set up .venv, migrate, and start the server on 127.0.0.1:8080 (SQLite, in-memory state; new accounts start with 10 USD of credit)
	$(VENV)/bin/aiserve-gpuproxy-admin migrate
	NEW_USER_CREDIT_USD=$${NEW_USER_CREDIT_USD:-10} exec $(VENV)/bin/aiserve-gpuproxyd

lint: develop ## cargo fmt --check, clippy -D warnings, ruff, mypy --strict, stubtest
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/ruff format --check python tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest gpuproxy._core

rust-test: ## Rust unit and property tests
	cargo test --workspace --quiet

py-test: develop ## pytest (unit, PostgreSQL, Redis, end-to-end)
	$(PY) -m pytest -q

# Examples per API operation for `make fuzz` (`make test` runs the same test with 8).
FUZZ_EXAMPLES ?= 300

fuzz: develop ## long schemathesis run over the OpenAPI schema (FUZZ_EXAMPLES per operation, default 300)
	GPUPROXY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/api/test_fuzz_openapi.py

wheel-check: $(VENV)/bin/activate ## build a wheel, install it into a fresh venv, run each command's --help
	rm -rf dist/wheel-check && mkdir -p dist/wheel-check
	MATURIN_PEP517_ARGS="--profile $(PROFILE)" $(PIP) wheel --quiet --no-deps -w dist/wheel-check .
	$(PYTHON) -m venv dist/wheel-check/venv
	dist/wheel-check/venv/bin/pip install --quiet dist/wheel-check/*.whl
	# The dashboard's templates and static files are package data: they must be in the wheel.
	dist/wheel-check/venv/bin/python -c "import gpuproxy.dashboard.routes as r, pathlib as p; d = p.Path(r.__file__).parent; assert (d / 'templates/base.html').is_file() and (d / 'static/dashboard.js').is_file(), 'dashboard files missing from the wheel'"
	cd dist && for c in aiserve-gpuproxyd aiserve-gpuproxy-client aiserve-gpuproxy-admin aiserve-gpuproxy-seed aiserve-gpuproxy-worker; do \
	  wheel-check/venv/bin/$$c --help >/dev/null || { echo "$$c --help failed"; exit 1; }; done
	cd dist && DATA_DIR=wheel-check/data wheel-check/venv/bin/aiserve-gpuproxy-admin migrate

test: lint rust-test py-test wheel-check ## everything CI runs: lint, Rust tests, pytest, wheel install check

bench: develop ## benchmarks, all scenarios (never part of `make test`; BENCH_ARGS=--quick for a short run); see benchmarks/README.md
	$(PIP) install --quiet 'matplotlib>=3.9'
	$(PY) benchmarks/run.py all $(BENCH_ARGS)

build-prod: $(VENV)/bin/activate ## release wheel with full LTO into dist/
	$(VENV)/bin/maturin build --release --out dist

proto: ## regenerate the gRPC modules from python/gpuproxy/grpc_api/gpuproxy.proto (grpcio-tools)
	$(PY) -m grpc_tools.protoc -Ipython --python_out=python --pyi_out=python \
	  --grpc_python_out=python python/gpuproxy/grpc_api/gpuproxy.proto

clean: ## remove build outputs and the venv
	rm -rf target dist $(VENV) .pytest_cache .mypy_cache .ruff_cache
