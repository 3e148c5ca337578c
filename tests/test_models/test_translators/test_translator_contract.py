"""The translator contract: who implements it, the build-time refusal of a
translator that does not, and the engine reading a translator through it
only."""
import numpy as np
import pytest
import torch
from tiny_colour_translator import ColourTransformTranslator
from tiny_translator import build_translator, tiny_translator_cfg
from tiny_uda import tiny_uda_cfg

from mmbdl.engine.runner.loop_state import (get_image_pools, load_image_pools,
                                            reset_image_pools)
from mmbdl.engine.translation import ImageTranslator
from mmbdl.models.translators import BaseTranslator, missing_contract_members
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError

COLOUR_PREPROCESSOR = dict(
    type='mmagic.DataPreprocessor', mean=127.5, std=127.5,
    output_channel_order='RGB', data_keys=['img_source', 'img_target'])


def _bdl(translator: dict):
    return MODELS.build(dict(type='BDL', segmentor=tiny_uda_cfg(),
                             translator=translator))


def test_perceptual_cyclegan_implements_the_contract():
    model = build_translator(tiny_translator_cfg(perceptual=True))
    assert isinstance(model, BaseTranslator)
    assert missing_contract_members(model) == []
    assert model.domains == ('source', 'target') and model.trains
    assert model.opposite_domain('source') == 'target'
    assert model.has_perceptual_model
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        np.testing.assert_array_equal(
            model.translate(x, 'target').numpy(),
            model.generators['target'](x).numpy())
    assert model.direction_state('source').keys() == \
        model.generators['source'].state_dict().keys()


def test_a_translator_outside_the_contract_is_refused_at_build_time():
    with pytest.raises(ConfigCheckError) as err:
        _bdl(dict(type='NotATranslator'))
    message = str(err.value)
    assert 'NotATranslator does not implement the translator contract' in \
        message
    assert ('missing domains, translate, input_normalization, '
            'direction_state, trains, size_divisor') in message
    assert 'train_step' not in message.split('missing')[1]  # BaseModel's
    with pytest.raises(ConfigCheckError,
                       match='HalfTranslator does not implement .* missing '
                       'translate, input_normalization, direction_state;'):
        _bdl(dict(type='HalfTranslator'))


def test_the_engine_runs_a_plugin_translator_through_the_contract():
    torch.manual_seed(0)
    model = ColourTransformTranslator(COLOUR_PREPROCESSOR)
    assert missing_contract_members(model) == []
    with torch.no_grad():
        model.convs['target'].bias.fill_(10 / 127.5)  # +10 on every channel
    img = np.full((8, 12, 3), 100, np.uint8)
    out = ImageTranslator(model)([img])[0]
    np.testing.assert_array_equal(out, np.full((8, 12, 3), 110, np.uint8))
    with pytest.raises(ConfigCheckError, match="target_domain='sky'"):
        ImageTranslator(model, target_domain='sky')
    # no resume state: the loop's helpers ask the translator, not MMagic
    assert get_image_pools(model) is None
    load_image_pools(model, None)
    reset_image_pools(model)


def test_resume_state_of_the_cyclegan_is_its_image_pools():
    model = build_translator(tiny_translator_cfg(perceptual=False))
    pool = model.image_buffers['source']
    pool.img_num, pool.image_buffer = 1, [torch.ones(1, 3, 4, 4)]
    state = get_image_pools(model)
    assert state['source']['img_num'] == 1
    assert state['target'] == dict(img_num=0, images=[])
    reset_image_pools(model)
    assert pool.img_num == 0 and pool.image_buffer == []
    load_image_pools(model, state)
    assert pool.img_num == 1 and torch.equal(pool.image_buffer[0],
                                             torch.ones(1, 3, 4, 4))
