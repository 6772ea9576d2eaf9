# The two commands of the README: `make demo` and `make test`. Each sets up .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
VTEST := /usr/share/doc/opencv-doc/examples/data/vtest.avi

.PHONY: demo test venv bench clean

venv: $(STAMP)

# torch/torchvision are pinned to the builds this machine carries on disk (CPU use; CUDA build on x86_64).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The real pedestrian clip vtest.avi ships in Debian's opencv-doc; the mining tests use it.
$(VTEST):
	if command -v apt-get >/dev/null; then \
	  (apt-get install -y -q opencv-doc >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q opencv-doc)); \
	fi

test: $(STAMP) $(VTEST)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/cion quickstart

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
