# wsstool: `make demo` and `make test` install everything into .venv first
# (only when requirements or setup.py changed), then run.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test benchmark clean

install: $(STAMP)

$(STAMP): setup.py requirements/runtime.txt requirements/optional.txt requirements/tests.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -r requirements/runtime.txt -r requirements/optional.txt -r requirements/tests.txt
	$(VPY) -m pip install --no-deps -e .
	touch $(STAMP)

# the KTSE -> IRN -> BECO pipeline on the built-in SynthVOC (generated on the
# first run); a rerun reuses the finished stages
demo: install
	$(VPY) tools/run_pipeline.py configs/pipelines/ktse_irn_beco_synthvoc.py

# two workers (one per core of the reference 2-core machine), one thread
# each; a test file runs on one worker, so module fixtures are built once
test: install
	OMP_NUM_THREADS=1 $(VPY) -m pytest tests -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) work_dirs
