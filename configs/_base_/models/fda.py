# FDA (Yang & Soatto, CVPR 2020) as BDL's translator F: no training; each
# source image takes the low-frequency Fourier amplitude (the b x b corners
# of the unshifted spectrum, b = floor(min(H, W) * beta)) of a random target
# image (mmbdl.models.translators.FDATranslator). Defines `fda_translator`
# (the BDL bases already define `translator`). The release trains three
# models, with beta 0.01, 0.05 and 0.09.
# online=True (the release): every training batch of a phase that trains on
# target data is translated, source image i with the same batch's (random)
# target image i; a config using it sets train_cfg.translate_source=False
# and has no SourceTranslationHook. online=False: S' written once by the
# SourceTranslationHook, one target image drawn from target_img_dir per
# source image (docs/translators.md). target_img_dir is read offline and by
# tools/translate.py.
fda_translator = dict(
    type='FDATranslator',
    target_img_dir='data/cityscapes/leftImg8bit/train',
    img_suffix='_leftImg8bit.png',
    beta=0.01,
    seed=0,
    online=True)
