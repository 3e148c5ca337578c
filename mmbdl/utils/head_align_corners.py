"""The ``align_corners`` a segmentor's decode head resizes its logits with."""
import torch.nn as nn


def head_align_corners(segmentor: nn.Module,
                       config_key: str = 'model.segmentor.segmentor.'
                       'decode_head.align_corners') -> bool:
    """Read ``align_corners`` from a segmentor's decode head.

    Pseudo-labels and probabilities for the discriminator must be resized
    exactly as the head resizes its own logits; a DeepLab-v2 head uses
    ``align_corners=True`` (the release), MMSegmentation's SegFormer and
    DeepLab-v3+ heads ``False``. Guessing would silently shift every label
    by up to half a pixel, so a head without the attribute is an error.

    Args:
        segmentor (nn.Module): An ``EncoderDecoder``-like segmentor.
        config_key (str): The config key named in the error.

    Returns:
        bool: The head's ``align_corners``.

    Raises:
        AttributeError: If the segmentor has no decode head or the head no
            boolean ``align_corners``.
    """
    head = getattr(segmentor, 'decode_head', None)
    if head is None:
        raise AttributeError(
            f'{type(segmentor).__name__} has no decode_head, so the '
            'align_corners of its logits cannot be read; use an '
            'EncoderDecoder-like segmentor')
    value = getattr(head, 'align_corners', None)
    if not isinstance(value, bool):
        raise AttributeError(
            f'the decode head {type(head).__name__} has no boolean '
            f'align_corners attribute (got {value!r}), so pseudo-labels '
            'cannot be resized the way the head resizes its logits; set '
            f'{config_key}=True or False in the config (or give the head '
            'an align_corners attribute)')
    return value
