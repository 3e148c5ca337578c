# FDA (Yang & Soatto, CVPR 2020) as BDL's translator F: no training; every
# source image takes the low-frequency Fourier amplitude (the b x b corners
# of the unshifted spectrum, b = floor(min(H, W) * beta)) of a randomly
# drawn target image (mmbdl.models.translators.FDATranslator). Defines
# `fda_translator` (the BDL bases already define `translator`). The release
# trains three models, with beta 0.01, 0.05 and 0.09.
fda_translator = dict(
    type='FDATranslator',
    target_img_dir='data/cityscapes/leftImg8bit/train',
    img_suffix='_leftImg8bit.png',
    beta=0.01,
    seed=0)
