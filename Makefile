# Two commands on a fresh machine: `make demo` (train, export, generate) and `make test`.
# Each creates .venv and installs what it needs from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO := runs/demo

.PHONY: demo test lint docs bench clean

# torch's CUDA wheel makes .venv about 7 GB; without the check a full disk shows up as a half-done install.
DISK_GB ?= 8
# setuptools announces every editable install with a note (not a deprecation) that folders named like the
# package take precedence: true and intended here, so that one note is filtered, nothing else.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c "import shutil, sys; f = shutil.disk_usage('.').free / 2**30; sys.exit(None if f >= $(DISK_GB) \
	else f'make: .venv needs about $(DISK_GB) GB of free disk (torch is a CUDA build), {f:.1f} GB free here: free some and run make again')"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e ".[dev]"
	touch $@

# The demo model: the paper's generator at half width (ngf 32) against a quarter-width discriminator
# (ndf 16), which keeps the two in balance and costs a quarter of the classic model's arithmetic, so the
# demo finishes in minutes on fp32-only CPUs too; export takes the checkpoint with the best SWD.
demo: $(VENV)/.installed  ## train, export, generate (README: measured times per CPU)
	rm -rf $(DEMO)
	$(PY) -m train --out $(DEMO) --ngf 32 --ndf 16 --batch-size 64 --max-steps 1000 --num-images 10000 \
		--sample-every 250 --checkpoint-every 500 --quiet
	$(PY) -m export $(DEMO)/checkpoints/best.pt --outdir $(DEMO)/export
	$(VENV)/bin/dcgan generate $(DEMO)/export/generator.onnx --seeds 0-63 --grid 8x8 --out $(DEMO)/grid.png
	$(VENV)/bin/dcgan interpolate $(DEMO)/export/generator.onnx --seeds 1,2,3,4 --steps 16 --out $(DEMO)/walk.gif
	$(VENV)/bin/dcgan arithmetic $(DEMO)/export/generator.onnx --plus 1,2,3 --minus 4,5,6 --plus 7,8,9 \
		--out $(DEMO)/arithmetic.png
	@echo "look at: $(DEMO)/grid.png $(DEMO)/walk.gif $(DEMO)/arithmetic.png $(DEMO)/progress.gif $(DEMO)/loss.png"
	@echo "explore: $(VENV)/bin/dcgan serve $(DEMO)/export/generator.onnx   (then open http://127.0.0.1:8000/)"
	@echo "publish: $(VENV)/bin/dcgan site $(DEMO)/export --out $(DEMO)/site   (a static site: the model runs in the browser)"

test: lint  ## lint and types, the test suite, the docstrings' >>> examples, every benchmark once in quick mode
	$(PY) -m pytest tests benchmarks dcgan_runtime train export --doctest-modules --quick --benchmark-disable

lint: $(VENV)/.installed  ## ruff (lint + format) over the project, mypy (strict) over dcgan_runtime
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

docs: $(VENV)/.installed  ## the API reference from the docstrings: build/api/index.html (pdoc; tests build it too)
	$(PY) docs/build_api.py build/api

bench: $(VENV)/.installed  ## full benchmarks (several minutes): JSON in .benchmarks/, table and plot in benchmarks/results/
	$(PY) -m benchmarks run

clean:
	rm -rf $(VENV) runs .benchmarks .pytest_cache
