"""DeepLabV2Head: sum of dilated branches and the two-branch switch."""
import pytest
import torch
import torch.nn.functional as F

from mmbdl.models.decode_heads import DeepLabV2Head


def _manual(head, x, n):
    out = 0
    for conv, d in list(zip(head.classifiers, head.dilations))[:n]:
        out = out + F.conv2d(x, conv.weight, conv.bias, padding=d,
                             dilation=d)
    return out


@pytest.mark.parametrize('effective', [None, 2])
def test_sum_of_dilated_branches(effective):
    torch.manual_seed(0)
    head = DeepLabV2Head(in_channels=8, num_classes=5,
                         num_effective_branches=effective)
    head.init_weights()
    x = torch.randn(2, 8, 30, 30)
    out = head([x])
    n = 4 if effective is None else 2
    torch.testing.assert_close(out, _manual(head, x, n))
    assert out.shape == (2, 5, 30, 30)
    assert head.dilations == (6, 12, 18, 24)
    assert not hasattr(head, 'conv_seg')
    out.sum().backward()
    got_grad = [c.weight.grad is not None for c in head.classifiers]
    assert got_grad == [True] * n + [False] * (4 - n)


def test_release_head_size_and_init():
    head = DeepLabV2Head()
    assert sum(p.numel() for p in head.parameters()) == 4 * (
        2048 * 9 * 19 + 19) == 1400908
    torch.manual_seed(0)
    head.init_weights()
    w = head.classifiers[0].weight
    assert abs(w.std().item() - 0.01) < 1e-3
    assert not head.classifiers[0].bias.any()


def test_bad_branch_count():
    with pytest.raises(ValueError, match='num_effective_branches'):
        DeepLabV2Head(in_channels=8, num_classes=3, num_effective_branches=5)
