# The two set-up commands are `make demo` and `make test`; each creates .venv and installs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The NTU journey (EPP-Net's streams and the related systems' on the same data), then Kinetics-TPS part parsing
DEMO_CONFIGS ?= configs/demo/pipeline.yaml configs/demo/part_pipeline.yaml

.PHONY: install demo test bench gpu-check lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	for config in $(DEMO_CONFIGS); do $(PY) -m pipeline $$config || exit 1; done

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
