# `make test` and `make demo` set everything up from a fresh clone with nothing but Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU wheel of torch must be installed before anything that depends on torch:
# an unpinned `torch` resolved first pulls several GB of CUDA packages. The constraint keeps
# every later install on that same torch.
TORCH_PIN := torch==2.13.0
DEMO_HOME := $(CURDIR)/.demo-hub

.PHONY: setup test demo lint bench clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIN)
	echo "$(TORCH_PIN)" > $(VENV)/torch-constraint.txt
	$(PIP) install --quiet -c $(VENV)/torch-constraint.txt -e ".[dev,gguf,ray,slurm]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q tests

# The main job, offline, on the built-in Pythia-architecture model.
demo: setup
	$(VENV)/bin/mechcirc models build-offline --home $(DEMO_HOME)
	HF_HOME=$(DEMO_HOME) HF_HUB_OFFLINE=1 $(VENV)/bin/mechcirc eap --model pythia-160m --task ioi --revision step143000 --out runs/demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Each script prints its figures and writes benchmarks/results/<name>.json (see BENCHMARKS.md).
bench: setup
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_HOME) runs .pytest_cache
