# mmbdl: the two commands of the README are `make demo` and `make test`.
# Both create the virtual environment first (idempotent: a second run does
# nothing when it is complete).
SHELL := /bin/bash
# The stack (requirements/README.md): pinned (default; Python 3.11, torch
# 2.9.1, numpy 1) or current (Python 3.12, torch 2.11, numpy 2), each in its
# own venv; scripts/setup_env.sh reads STACK from the environment.
STACK ?= pinned
export STACK
VENV ?= $(CURDIR)/.venv$(if $(filter current,$(STACK)),-current)
PY := $(VENV)/bin/python
DEMO_DATA ?= data/demo
# demo data version (mmbdl/datasets/demo.py): 3 (default) adds a content
# shift between the domains to the appearance gap; 2 draws the previous set
DEMO_DATA_VERSION ?= 3
# each stack's demo has its own work dir (work_dirs/bdl_demo, _current)
DEMO_WORK_DIR ?= work_dirs/bdl_demo$(if $(filter current,$(STACK)),_current)
PYTEST_ARGS ?=

.PHONY: env demo demo-data test test-quick lint clean-env rehearsal \
	test-subset device-kit

env:
	@VENV=$(VENV) bash scripts/setup_env.sh

# the script keeps a complete set of the current version, redraws others
demo-data: env
	@$(PY) tools/make_demo_data.py --out $(DEMO_DATA) \
		--data-version $(DEMO_DATA_VERSION)

# One thread per process: measured here, PyTorch's default two threads made
# the source-only phase 4x slower on a 2-core machine with other load. The
# last step draws the run as one picture, $(DEMO_WORK_DIR)/demo_grid.png
# (source, F(k)(source), target, label, M(0) and final M predictions).
demo: demo-data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) tools/train.py \
		configs/bdl/bdl_demo.py --work-dir $(DEMO_WORK_DIR)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) tools/analysis/demo_grid.py \
		configs/bdl/bdl_demo.py $(DEMO_WORK_DIR)

# The full suite (what CI runs). pytest-xdist (requirements/tests.txt) runs
# it on TEST_WORKERS processes with one torch thread each (tests/conftest.py),
# a test file per worker at a time (--dist loadfile: a module-scoped fixture,
# e.g. one tiny finished run, is built once); TEST_WORKERS=0 runs it in one
# process. --durations=15 prints the 15 slowest tests, next to the budget of
# slow-marked tests (tests/test_suite_budget.py).
TEST_WORKERS ?= 2
XDIST_ARGS = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) \
	--dist loadfile)
test: env
	@start=$$(date +%s); \
	$(PY) -m pytest tests -q -p no:cacheprovider $(XDIST_ARGS) \
		--durations=15 $(PYTEST_ARGS); rc=$$?; \
	echo "[test] suite took $$(( $$(date +%s) - start )) s"; exit $$rc

# The quick tier, run after each change (at most 3 minutes on 2 cores): unit
# tests of the models (bit-exactness against the release included), data
# sets, the metric, pseudo-label rules, optimizers and utils, the release
# checkpoint converters and one tiny bidirectional loop; tests marked slow
# (pytest.ini: whole training steps of real models, real processes) are left
# out. make test stays the full suite, what CI runs.
QUICK_TESTS ?= \
	tests/test_models \
	tests/test_datasets \
	tests/test_evaluation \
	tests/test_engine/test_pseudo_labeling \
	tests/test_engine/test_optimizers \
	tests/test_utils \
	tests/test_tools/test_model_converters.py \
	tests/test_engine/test_runner/test_bidirectional_loop.py::test_phase_order_events_outputs_and_table
test-quick: env
	@start=$$(date +%s); \
	$(PY) -m pytest $(QUICK_TESTS) -m 'not slow' -q -p no:cacheprovider \
		$(XDIST_ARGS) --durations=15 $(PYTEST_ARGS); rc=$$?; \
	echo "[test-quick] took $$(( $$(date +%s) - start )) s"; exit $$rc

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

# What .ci/run runs on the stack that is not the default: bit-exactness
# against the release (backbone, heads, discriminator, translator, converted
# checkpoints), the metric, the bidirectional loop and its resume, the EMA
# loop, numpy 2 / version checks, the demo data's checksums and the entry
# points (tools/*.py and MMSegmentation's own tools). E.g.
# make test-subset STACK=current
STACK_SUBSET ?= \
	tests/test_models/test_backbones/test_deeplabv2_resnet.py \
	tests/test_models/test_decode_heads/test_deeplabv2_head.py \
	tests/test_models/test_decode_heads/test_fcn8s_head.py \
	tests/test_models/test_discriminators/test_fc_discriminator.py \
	tests/test_models/test_translators/test_perceptual_cyclegan.py \
	tests/test_models/test_utils/test_release_checkpoint_configs.py \
	tests/test_tools/test_model_converters.py \
	tests/test_evaluation/test_bdl_iou_metric.py \
	tests/test_engine/test_runner/test_bidirectional_loop.py \
	tests/test_engine/test_runner/test_ema_self_training.py \
	tests/test_utils/test_checkpoint.py \
	tests/test_utils/test_numpy_compat.py \
	tests/test_utils/test_version_check.py \
	tests/test_tools/test_demo_data_checksums.py \
	tests/test_tools/test_train_test_tools.py \
	tests/test_tools/test_mmseg_entry_points.py \
	tests/test_tools/test_infer.py \
	tests/test_tools/test_translate.py \
	tests/test_tools/test_pseudo_label_tool.py
test-subset: env
	@start=$$(date +%s); \
	$(PY) -m pytest $(STACK_SUBSET) -q -p no:cacheprovider $(XDIST_ARGS) \
		$(PYTEST_ARGS); rc=$$?; \
	echo "[test-subset] STACK=$(STACK) took $$(( $$(date +%s) - start )) s"; \
	exit $$rc

# The wheel set that makes mmbdl importable on a machine with its own torch
# and no network (e.g. a lent GPU machine): mmcv compiled against that torch
# and Python, and the pure-Python packages of the stack. E.g.
# make device-kit KIT_PYTHON=3.12 KIT_TORCH=2.11.0 KIT_DIR=dist/device-kit
KIT_PYTHON ?= 3.12
KIT_TORCH ?= 2.11.0
KIT_DIR ?= dist/device-kit-torch$(KIT_TORCH)-py$(KIT_PYTHON)
device-kit:
	@KIT_PYTHON=$(KIT_PYTHON) KIT_TORCH=$(KIT_TORCH) KIT_DIR=$(KIT_DIR) \
		bash scripts/device_kit.sh
