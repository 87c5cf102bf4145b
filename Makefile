# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: install demo test lint bench clean

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -e ".[dev,dgl]"
	touch $@

install: $(VENV)/.installed

demo: install
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/plexus demo

test: install
	MLFLOW_DISABLE_TELEMETRY=true $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check platform gnn recsys nas evaluation plexus tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
