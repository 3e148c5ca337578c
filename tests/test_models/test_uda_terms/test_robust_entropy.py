"""FDA's robust entropy term against an independent computation, in M's
training step, and its refused settings."""
import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from tiny_uda import tiny_uda_cfg, uda_batch

from mmbdl.models.uda_terms import RobustEntropy, robust_entropy
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError

ADAPTATION = ('source_ce', 'adversarial')


def reference(logits: np.ndarray, eta: float, eps: float,
              norm: float) -> float:
    """The release's rule in numpy (float64): per pixel
    ``E = -sum_c p log p / norm``, then ``mean((E^2 + eps)^eta)``."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    ent = -(p * np.log(p)).sum(axis=1) / norm
    return float(((ent**2 + eps)**eta).mean())


@pytest.mark.parametrize('eta,eps', [(2.0, 1e-8), (1.5, 1e-3)])
def test_matches_the_release_rule(eta, eps):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 19, 6, 9, generator=g) * 3
    got = float(robust_entropy(logits, eta, eps))
    want = reference(logits.numpy(), eta, eps, np.log(19))
    assert got == pytest.approx(want, rel=1e-5)
    # the release divides by 2.9444, log(19) rounded to four decimals
    release = reference(logits.numpy(), eta, eps, 2.9444)
    assert got == pytest.approx(release, rel=1e-4)
    # a confident map has a small entropy, a uniform one the largest
    assert float(robust_entropy(torch.zeros(1, 19, 2, 2), eta, 0.)) == \
        pytest.approx(1.0, rel=1e-6)


def test_is_a_term_of_m_step():
    torch.manual_seed(0)
    terms = list(ADAPTATION) + [dict(type='RobustEntropy')]
    model = MODELS.build(dict(tiny_uda_cfg(),
                              loss_terms=dict(adaptation=terms)))
    model.init_weights()
    model.set_phase('adaptation', ADAPTATION)
    batch = uda_batch(2, seed=5)
    seg = model.segmentor
    with torch.no_grad():  # train mode (BN batch statistics), as the step
        logits = seg.decode_head.forward(seg.extract_feat(
            batch['inputs']['target']))
    want = 0.005 * reference(logits.numpy(), 2.0, 1e-8, np.log(3))
    optim = OptimWrapperDict(
        segmentor=OptimWrapper(torch.optim.SGD(seg.parameters(), lr=0.1)),
        discriminator=OptimWrapper(torch.optim.SGD(
            model.discriminator.parameters(), lr=0.1)))
    log_vars = {k: float(torch.as_tensor(v).detach()) for k, v in
                model.train_step(copy.deepcopy(batch), optim).items()}
    assert log_vars['tgt.loss_ent'] == pytest.approx(want, rel=1e-4)
    total = sum(v for k, v in log_vars.items()
                if k.startswith(('src.', 'tgt.')) and 'loss' in k)
    assert log_vars['loss'] == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize('key,value', [('loss_weight', -1.0), ('eta', 0),
                                       ('eps', 'small'), ('eta', True)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ConfigCheckError,
                       match=f'robust_entropy {key}=.* must be a number'):
        RobustEntropy(**{key: value})
