# The two set-up commands are `make demo` and `make test`; each creates .venv and installs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_CONFIG ?= configs/demo/pipeline.yaml

.PHONY: install demo test bench gpu-check lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pipeline $(DEMO_CONFIG)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks --out bench_results.json

gpu-check: $(STAMP)
	$(PY) -m benchmarks.gpu_check --out gpu_check.json

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf demo_output bench_results.json gpu_check.json .pytest_cache
