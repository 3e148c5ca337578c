"""Build a threshold policy from a name or a config dict."""
from typing import Dict, Type, Union

from mmbdl.utils.errors import ConfigCheckError
from .base_threshold_policy import BaseThresholdPolicy
from .classwise_median_policy import ClasswiseMedianPolicy
from .fixed_threshold_policy import FixedThresholdPolicy
from .soft_label_policy import SoftLabelPolicy
from .top_fraction_policy import TopFractionPolicy

THRESHOLD_POLICIES: Dict[str, Type[BaseThresholdPolicy]] = {
    'classwise_median': ClasswiseMedianPolicy,
    'fixed': FixedThresholdPolicy,
    'soft': SoftLabelPolicy,
    'top_fraction': TopFractionPolicy,
}


def build_threshold_policy(
        cfg: Union[str, dict, BaseThresholdPolicy, None]
) -> BaseThresholdPolicy:
    """Build a threshold policy.

    Args:
        cfg (str | dict | BaseThresholdPolicy | None): A policy name
            ('classwise_median', 'fixed', 'soft', 'top_fraction' or the class
            name), a dict ``dict(type=name, **kwargs)``, a built policy, or
            None for the default ('classwise_median', the released rule).

    Returns:
        BaseThresholdPolicy: The policy.

    Raises:
        ValueError: For an unknown policy name or bad arguments.
    """
    if isinstance(cfg, BaseThresholdPolicy):
        return cfg
    if cfg is None:
        cfg = 'classwise_median'
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    cfg = dict(cfg)
    name = cfg.pop('type', 'classwise_median')
    classes = dict(THRESHOLD_POLICIES)
    classes.update({cls.__name__: cls for cls in THRESHOLD_POLICIES.values()})
    if name not in classes:
        raise ConfigCheckError(
            f'unknown pseudo-label policy {name!r}; choose one of '
            f'{sorted(THRESHOLD_POLICIES)}')
    try:
        return classes[name](**cfg)
    except TypeError as err:
        raise ConfigCheckError(f'bad arguments for pseudo-label policy {name!r}: '
                               f'{err}') from None
