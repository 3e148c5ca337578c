"""FCDiscriminator: release size and structure."""
import pytest
import torch
import torch.nn as nn

from mmbdl.models.discriminators import FCDiscriminator


def test_release_structure():
    disc = FCDiscriminator(num_classes=19)
    assert sum(p.numel() for p in disc.parameters()) == 2781121
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2)
               and c.padding == (1, 1) for c in convs)
    relus = [m for m in disc.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(relus) == 4 and all(r.negative_slope == 0.2 for r in relus)
    out = disc(torch.softmax(torch.randn(2, 19, 64, 128), 1))
    assert out.shape == (2, 1, 2, 4)


def test_channel_mismatch():
    with pytest.raises(ValueError, match='num_classes'):
        FCDiscriminator(num_classes=19)(torch.zeros(1, 16, 32, 32))
