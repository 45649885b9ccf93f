# ilsvrc-classic: set-up, tests, benchmarks.  Everything runs inside .venv at the repo root.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test bench bench-scale demo tutorial reference clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# The main job: a full classification experiment on the embedded Caltech-101 subset, then
# proposals, detection and localization on the embedded boxed images, and the Fisher-vector demo
# whose model the teaching pictures draw.
demo: $(STAMP)
	$(VENV)/bin/ilsvrc-classic run experiments/configs/demo.toml
	$(VENV)/bin/ilsvrc-classic run experiments/configs/demo_detection.toml
	$(VENV)/bin/ilsvrc-classic run experiments/configs/demo_fisher.toml --quiet
	@echo "reports written to runs/demo/report.md, runs/demo_detection/report.md and runs/demo_fisher/report.md"

# The guided tour: every figure and number of docs/tutorial.md, and the exercises.
tutorial: $(STAMP)
	$(PY) -m experiments.teaching.tutorial

bench: $(STAMP)
	$(PY) -m benchmarks

# Throughput of the full FV extraction and the ILSVRC2012 projection; add
# ARGS="--data /path/to/101_ObjectCategories" for the accuracy cost of float16 / PQ storage.
bench-scale: $(STAMP)
	$(PY) -m benchmarks.scale $(ARGS)

# Optional: VLFeat itself as the reference for the descriptor tests and benchmark
# (Debian's libvlfeat-dev + PyPI's cyvlfeat; needs root for apt-get).
reference: $(STAMP)
	command -v apt-get >/dev/null && (test -e /usr/include/vl/dsift.h || (apt-get update -qq && apt-get install -y -qq libvlfeat-dev))
	$(PY) -m pip install --quiet cython setuptools wheel
	CFLAGS=-I/usr/include LDFLAGS="-L/usr/lib/$$(gcc -print-multiarch) -lvl" \
	  $(PY) -m pip install --quiet --no-build-isolation cyvlfeat

clean:
	rm -rf $(VENV) runs store explain .pytest_cache
