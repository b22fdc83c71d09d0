# Two commands do all the set-up on a fresh Debian machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench docs-images system-deps browser-deps clean

demo: system-deps $(STAMP)
	$(PY) -m pip install --quiet -e '.[plot]'
	$(VENV)/bin/chainrule demo

test: system-deps browser-deps $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

bench: system-deps $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/run.py

# The pictures of docs/drawing.md, docs/tour.md and docs/nn.md, drawn by docs/make_*pictures.py.
docs-images: system-deps $(STAMP)
	$(PY) docs/make_pictures.py
	$(PY) docs/make_tour_pictures.py
	$(PY) docs/make_nn_pictures.py

# Debian's graphviz provides the `dot` program that renders drawings.  Debian's python3
# cannot create virtual environments until python3-venv (ensurepip) is installed.
system-deps:
	@if [ ! -x $(PY) ] && ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing python3-venv (to create .venv) with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else \
	    echo "$(PYTHON) cannot create a virtual environment: run 'sudo apt-get install python3-venv' and try again." >&2; \
	    exit 1; \
	  fi; \
	fi
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing graphviz (the dot program) with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "The 'dot' program is missing: run 'sudo apt-get install graphviz' and try again." >&2; \
	    exit 1; \
	  fi; \
	fi

# Debian's chromium and its driver run the step-through page's test (tests/test_viz_page.py).
# Only `make test` needs them, so `make demo` does not install a browser.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing chromium and chromium-driver with apt-get (for the page test)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install chromium chromium-driver' and try again." >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info chainrule-demo
