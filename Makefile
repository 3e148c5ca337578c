# mmbdl: the two commands of the README are `make demo` and `make test`.
# Both create the virtual environment first (idempotent: a second run does
# nothing when it is complete).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
DEMO_DATA ?= data/demo
DEMO_WORK_DIR ?= work_dirs/bdl_demo
PYTEST_ARGS ?=

.PHONY: env demo demo-data test clean-env

env:
	@VENV=$(VENV) bash scripts/setup_env.sh

# the script keeps a complete set of the current version, redraws others
demo-data: env
	@$(PY) tools/make_demo_data.py --out $(DEMO_DATA)

# One thread per process: measured here, PyTorch's default two threads made
# the source-only phase 4x slower on a 2-core machine with other load.
demo: demo-data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) tools/train.py \
		configs/bdl/bdl_demo.py --work-dir $(DEMO_WORK_DIR)

test: env
	@start=$$(date +%s); \
	$(PY) -m pytest tests -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	echo "[test] suite took $$(( $$(date +%s) - start )) s"; exit $$rc

clean-env:
	rm -rf $(VENV)
