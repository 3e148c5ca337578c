# What the BDL loop (bdl_loop.py) trains on, for every source data set: the
# release's iteration budgets of the segmentation phases and the dataloader
# of the translation phases F(k) (unpaired source / Cityscapes images of
# ../datasets/unpaired_images.py; batch 4 on one GPU = the release's 4 GPUs
# x 1). bdl_data_<source>-to-cityscapes.py adds the UDA batches of the
# segmentation phases, the budget and lr schedule of the translation phases
# (20 CycleGAN epochs of that source) and the hooks.
_base_ = ['../datasets/unpaired_images.py', './bdl_loop.py']
train_cfg = dict(
    phase_iters=dict(source_only=80000, adaptation=80000,
                     self_training=120000),
    phase_dataloaders=dict(
        translation=dict(
            batch_size=4,
            num_workers=4,
            persistent_workers=True,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=_base_.unpaired_dataset)))
