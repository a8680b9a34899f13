# The quick start: `make demo` and `make test` on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Python environment, and the grader's system tools (bubblewrap: installed when
# missing if this user can, else one line saying how; see the script).
setup: $(STAMP)
	@sh scripts/install_system_deps.sh

demo: setup
	$(BIN)/lrjax train --plot demo-loss.png
	$(BIN)/python assignments/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two workers: the files that run sandboxes, nbgrader, Jupyter or a browser one after the
# other on one of them, the rest beside them (tests/conftest.py, SERIAL).
test: setup lint
	$(BIN)/python -m pytest -n 2 --durations=15

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py

clean:
	rm -rf $(VENV) build *.egg-info demo-loss.png
