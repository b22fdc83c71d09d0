# Two commands do all the set-up on a fresh Debian machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps: each install runs again only when setup.cfg or pyproject.toml changes, so a
# second `make demo` or `make test` installs nothing and prints no pip or setuptools text.
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint bench docs-images system-deps browser-deps clean

demo: system-deps $(DEMO_STAMP)
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
docs-images: system-deps browser-deps $(STAMP)
	$(PY) docs/make_pictures.py
	$(PY) docs/make_tour_pictures.py
	$(PY) docs/make_nn_pictures.py
	$(PY) docs/make_page_pictures.py

# $(call apt-install,PACKAGES,WHAT IS MISSING): as root, install Debian packages with
# apt-get; otherwise say which command would, and stop.  (No commas in the arguments.)
define apt-install
if [ "$$(id -u)" = 0 ]; then \
  echo "$(2): installing $(1) with apt-get"; \
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
else \
  echo "$(2): run 'sudo apt-get install $(1)' and try again." >&2; \
  exit 1; \
fi
endef

# Debian's graphviz provides the `dot` program that renders drawings.  Debian's python3
# cannot create virtual environments until python3-venv (ensurepip) is installed.
system-deps:
	@if [ ! -x $(PY) ] && ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  $(call apt-install,python3-venv,$(PYTHON) cannot create a virtual environment); \
	fi
	@if ! command -v dot >/dev/null 2>&1; then \
	  $(call apt-install,graphviz,The 'dot' program is missing); \
	fi

# Debian's chromium and its driver run the step-through page's test (tests/test_viz_page.py).
# Only `make test` needs them, so `make demo` does not install a browser.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  $(call apt-install,chromium chromium-driver,chromium is missing); \
	fi

# The virtual environment, with a current pip.
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# What the demo needs: chainrule and matplotlib for its plots (the `plot` extra), not the
# test tools.  PYTHONWARNINGS quiets setuptools' note on editable installs (a framed box
# about folders named like the package; here they are the package).
$(DEMO_STAMP): setup.cfg pyproject.toml | $(PY)
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet -e '.[plot]'
	touch $@

# Everything `make test` runs: the `dev` extra (test tools, linters, the notebook runner).
$(STAMP): setup.cfg pyproject.toml | $(PY)
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info chainrule-demo
