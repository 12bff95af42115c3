# Two entry points (see README.md):
#   make mnist   set up .venv, fetch MNIST if needed, train and evaluate JMVAE-kl
#   make test    set up .venv and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MNIST_FLAGS ?= --alpha=0.1

.PHONY: mnist test quicktest setup
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

mnist: setup
	$(PY) -m experiments.mnist $(MNIST_FLAGS)

# One pytest-xdist worker per core (at most 4), each test file on one worker
# so its module fixtures are built once. pytest exits 5 when it collects
# nothing: say so and fail loudly. The 15 slowest tests are listed at the end.
PYTEST_PARALLEL ?= -n auto --maxprocesses=4 --dist=loadfile
test: setup
	$(PY) -m pytest $(PYTEST_PARALLEL) -ra --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

quicktest: setup
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow" -q
