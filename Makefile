# pgolf: `make demo` runs the main job on the embedded default, `make test` runs the test suite.
# Both create or reuse .venv and install what they need; torch goes in first, pinned to the
# CPU wheel, so that pip never swaps in another (multi-GB CUDA) torch build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.pgolf-installed
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test browser clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the dashboard's browser test (Debian's package; installed once, as root).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium; the browser test will fail"; }

demo: install
	$(VENV)/bin/pgolf demo

test: install browser
	$(VENV)/bin/python -m pytest

clean:
	rm -rf pgolf-runs demo-data runs test-artifacts
