"""`import mmbdl` names missing or unsupported dependencies."""
import pytest

from mmbdl import version_check


def test_supported_stack_passes():
    version_check.check_dependencies()


def test_wrong_and_missing_versions_are_named(monkeypatch):
    fake = {'mmcv': '2.2.0', 'mmsegmentation': '', 'torch': '2.9.1',
            'mmengine': '0.10.7', 'mmagic': '1.2.0'}
    monkeypatch.setattr(version_check, '_installed_version',
                        lambda name: fake[name])
    with pytest.raises(ImportError) as info:
        version_check.check_dependencies()
    message = str(info.value)
    assert 'mmcv==2.2.0 is not supported (need >=2.0.0rc4, <2.2.0)' in message
    assert 'install mmcv==2.1.0' in message
    assert 'mmsegmentation is not installed; install mmsegmentation==1.2.2' \
        in message
    # packages in range are not mentioned
    assert 'torch' not in message and 'mmengine' not in message
