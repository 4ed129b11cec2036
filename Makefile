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

.PHONY: setup test check demo lint bench clean

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

# The fast tier for the inner loop, on two processes: everything but the tests marked slow
# (subprocesses, examples, notebooks, the wheel build, browsers, end-to-end runs).
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -n 2 -m "not slow" tests

# The main job, offline, on the built-in micro-Pythia (trained by mechcirc; see the README):
# its IOI circuit at the final checkpoint, then a sweep showing circuits form over training.
DEMO_REVISIONS := step0,step200,step400,step700,step900,step1000,step1100,step1200,step1400,step1800,step2200,step2800
OFFLINE := HF_HOME=$(DEMO_HOME) HF_HUB_OFFLINE=1
demo: setup
	$(VENV)/bin/mechcirc models build-offline --home $(DEMO_HOME) --micro-revisions $(DEMO_REVISIONS)
	$(OFFLINE) $(VENV)/bin/mechcirc eap --model micro-pythia --task ioi --revision step2800 \
		--out runs/demo --overwrite
	$(OFFLINE) $(VENV)/bin/mechcirc sweep --models micro-pythia --revisions $(DEMO_REVISIONS) \
		--tasks ioi,greater-than --analyses behaviour,eap,heads --n 32 --ig-steps 5 \
		--out runs/demo-sweep --overwrite

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Each script prints its figures and writes benchmarks/results/<name>.json (see BENCHMARKS.md).
bench: setup
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_HOME) runs .pytest_cache
