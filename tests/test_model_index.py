"""The model index (model-index.yml, configs/bdl/metafile.yaml)."""
import os.path as osp

import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the paper's Cityscapes val results (mIoU; SYNTHIA: mIoU13 / mIoU16)
PAPER = {
    'source-only_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512':
    ('mIoU', 33.6),
    'bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512': ('mIoU',
                                                                 48.5),
    'bdl_fcn8s-vgg16_1xb1-k2n2_gta5-to-cityscapes-1024x512': ('mIoU', 41.3),
    'bdl_deeplabv2-r101_1xb1-k2n2_synthia-to-cityscapes-1024x512':
    ('mIoU13', 51.4),
    'bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512': ('mIoU16',
                                                                 39.0),
}


def load(rel):
    with open(osp.join(REPO, rel)) as f:
        return yaml.safe_load(f)


def test_index_imports_metafiles_whose_paths_exist():
    index = load('model-index.yml')
    assert index['Import'] == ['configs/bdl/metafile.yaml']
    for rel in index['Import']:
        meta = load(rel)
        collections = {c['Name'] for c in meta['Collections']}
        for c in meta['Collections']:
            assert osp.isfile(osp.join(REPO, c['README']))
        for model in meta['Models']:
            assert model['In Collection'] in collections
            config = model['Config']
            assert osp.isfile(osp.join(REPO, config)), config
            # the model's name is its config's
            assert osp.basename(model['Config']) == model['Name'] + '.py'
            assert model['Results']['Dataset'] == 'Cityscapes'
            assert model['Results']['Task'] == 'Semantic Segmentation'


def test_paper_results_and_weights_notes():
    models = {
        m['Name']: m
        for m in load('configs/bdl/metafile.yaml')['Models']
    }
    assert set(models) == set(PAPER)
    for name, (metric, value) in PAPER.items():
        assert models[name]['Results']['Metrics'] == {metric: value}
        if 'Weights' in models[name]:
            # release checkpoints: the converter is named next to them
            note = models[name]['Metadata']['Weights Format']
            assert 'tools/model_converters/bdl_to_mmbdl.py' in note
            assert osp.isfile(osp.join(
                REPO, 'tools/model_converters/bdl_to_mmbdl.py'))
            assert models[name]['Converted From']['Weights'] == \
                models[name]['Weights']
    assert 'Weights' not in models[
        'source-only_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512']


def test_metafile_schema_matches_mmsegmentation():
    """Every key we use is one MMSegmentation's own metafiles use."""
    import glob

    import mmseg
    keys = dict(collection=set(), model=set(), results=set())
    pattern = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', '*',
                       'metafile.yaml')
    for path in glob.glob(pattern):
        with open(path) as f:
            meta = yaml.safe_load(f) or {}
        for c in meta.get('Collections') or []:
            keys['collection'] |= set(c)
        for m in meta.get('Models') or []:
            keys['model'] |= set(m)
            keys['results'] |= set(m.get('Results') or {})
    assert keys['model'], 'no MMSegmentation metafiles found'
    # `Converted From` is OpenMMLab's key for weights ported from elsewhere
    keys['model'].add('Converted From')
    ours = load('configs/bdl/metafile.yaml')
    for c in ours['Collections']:
        assert set(c) <= keys['collection']
    for m in ours['Models']:
        assert set(m) <= keys['model'], set(m) - keys['model']
        assert set(m['Results']) <= keys['results']
