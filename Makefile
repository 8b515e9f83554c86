# kolwatch: every target bootstraps its own virtual environment (.venv) from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint run clean

$(STAMP): pyproject.toml setup.py nlp/_speedups.c
	scripts/ensure-c-compiler.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	scripts/ensure-cjk-font.sh
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kolwatch demo --out demo-output

test: $(STAMP)
	scripts/with-postgres.sh $(PY) -m pytest -q

bench: $(STAMP)
	scripts/with-postgres.sh $(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

run: $(STAMP)
	$(VENV)/bin/kolwatch run

clean:
	rm -rf $(VENV) demo-output bench-output .pytest_cache .ruff_cache
