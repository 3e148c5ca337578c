"""Test-wide set-up: register every module under the mmbdl scope once, and
keep the suite on the CPU unless a test is marked ``cuda``.

The suite's figures (bit-exact comparisons, deterministic round tables)
are CPU figures, so on a machine with a GPU every test that is not marked
``cuda`` still runs on the CPU: CUDA is hidden from it (``torch.cuda``,
MMEngine's device, and ``CUDA_VISIBLE_DEVICES`` for the tools it starts).
Tests marked ``cuda`` (tests/test_cuda/) see the GPU and are skipped, with
the reason, where none is visible.

Threads: two per process (``OMP_NUM_THREADS``, unless set), one in each
pytest-xdist worker (``make test`` runs two workers on the two cores; the
tools the tests start inherit the setting).
"""
import os

_WORKER = os.environ.get('PYTEST_XDIST_WORKER')
os.environ.setdefault('OMP_NUM_THREADS', '1' if _WORKER else '2')

import pytest  # noqa: E402
import torch  # noqa: E402

from mmbdl.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)
if _WORKER:
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))

CUDA = torch.cuda.is_available()
NO_CUDA = ('no CUDA device is visible (torch.cuda.is_available() is '
           'False): the cuda tier runs on a GPU machine, e.g. through '
           'tools/analysis/gpu_check.sh')


def pytest_collection_modifyitems(config, items):
    if CUDA:
        return
    skip = pytest.mark.skip(reason=NO_CUDA)
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)


class _CpuPin:
    """Hides a visible GPU (torch, MMEngine's device, child processes)."""

    def __init__(self) -> None:
        self.active = False
        self.saved = {}

    def on(self) -> None:
        if self.active:
            return
        import mmengine.device.utils as device_utils
        self.saved = dict(available=torch.cuda.is_available,
                          device=device_utils.DEVICE,
                          env=os.environ.get('CUDA_VISIBLE_DEVICES'))
        torch.cuda.is_available = lambda: False
        device_utils.DEVICE = 'cpu'
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
        self.active = True

    def off(self) -> None:
        if not self.active:
            return
        import mmengine.device.utils as device_utils
        torch.cuda.is_available = self.saved['available']
        device_utils.DEVICE = self.saved['device']
        if self.saved['env'] is None:
            os.environ.pop('CUDA_VISIBLE_DEVICES', None)
        else:
            os.environ['CUDA_VISIBLE_DEVICES'] = self.saved['env']
        self.active = False


_PIN = _CpuPin()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test (module-scoped ones included) is set
    up: CPU for unmarked tests, the GPU for ``cuda`` ones."""
    if not CUDA:
        return
    if item.get_closest_marker('cuda') is None:
        _PIN.on()
    else:
        _PIN.off()


def _mmengine_instances() -> dict:
    from cli_runner import mmengine_instances
    return mmengine_instances()


def _drop_new_instances(before: dict) -> None:
    """Drop the instances created since ``before`` (their log files
    closed): a runner of a later test that uses the same name (MMSeg's
    configs name their visualizer 'visualizer'; a runner's logger is named
    after the second it started) must not write into this test's folders.
    ``make test`` runs many test files in one xdist worker process."""
    from cli_runner import drop_new_instances
    drop_new_instances(before)


@pytest.fixture(autouse=True, scope='module')
def _mmengine_instances_per_module():
    """What a module's tests and fixtures create goes with the module."""
    before = _mmengine_instances()
    yield
    _drop_new_instances(before)


@pytest.fixture(autouse=True)
def _mmengine_instances_per_test():
    """What a test creates goes with the test (instances of module-scoped
    fixtures stay for the module's other tests)."""
    before = _mmengine_instances()
    yield
    _drop_new_instances(before)
