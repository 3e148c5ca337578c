# mmbdl: the two commands of the README are `make demo` and `make test`.
# Both create the virtual environment first (idempotent: a second run does
# nothing when it is complete).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
DEMO_DATA ?= data/demo
DEMO_WORK_DIR ?= work_dirs/bdl_demo
PYTEST_ARGS ?=

.PHONY: env demo demo-data test lint clean-env rehearsal

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

# flake8 and isort with OpenMMLab's rules (setup.cfg); the versions are
# pinned in requirements/lint.txt. E.g. make lint LINT_PATHS=mmbdl/utils
LINT_PATHS ?= mmbdl tools tests configs setup.py
lint: env
	@rc=0; \
	$(PY) -m flake8 $(LINT_PATHS) || rc=1; \
	$(PY) -m isort --check-only --diff $(LINT_PATHS) || rc=1; \
	exit $$rc

# Full-scale rehearsal of a paper config on synthetic data at the real image
# sizes; writes rehearsal.md / .json (measurements, projection) into the work
# dir. E.g. make rehearsal REHEARSAL_ARGS="--images 24 --iters 2"
REHEARSAL_CONFIG ?= configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py
REHEARSAL_ARGS ?= --images 4 --iters 2
rehearsal: env
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) tools/analysis/rehearse.py \
		$(REHEARSAL_CONFIG) $(REHEARSAL_ARGS)

clean-env:
	rm -rf $(VENV)
