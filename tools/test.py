"""Test (evaluate) a checkpoint of an mmbdl config.

Example:
    python tools/test.py configs/bdl/bdl_demo.py work_dirs/bdl_demo/final.pth
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an mmbdl checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='folder for one prediction PNG per test image (train ids; '
        'Cityscapes label ids with --format-only)')
    parser.add_argument(
        '--format-only',
        action='store_true',
        help='write the predictions to --out in Cityscapes label ids (the '
        'benchmark server format) without evaluating; labels not needed')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='evaluate a checkpoint that lacks some of the segmentor\'s '
        'weights (warning; refused otherwise); the config key is '
        'default_hooks.weights_check.allow_partial')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where every painted test image is saved (under '
        'vis_data/vis_image)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs in xxx=yyy '
        'format')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test time augmentation: the config\'s tta_pipeline (flips, '
        'scales) and tta_model (mean of the views\' class probabilities)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args) -> None:
    """Switch on MMSegmentation's visualization hook for --show/--show-dir."""
    from mmbdl.utils import ConfigCheckError
    default_hooks = cfg.setdefault('default_hooks', {})
    if 'visualization' not in default_hooks:
        raise ConfigCheckError(
            f'{args.config}: --show/--show-dir need a `visualization` entry '
            "in default_hooks, e.g. dict(type='SegVisualizationHook')")
    hook = default_hooks['visualization']
    hook['draw'] = True
    # paint every test image, not every 50th (the hook's training default)
    hook['interval'] = 1
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def check_weights(cfg, allow_partial: bool) -> None:
    """Make sure the checkpoint is checked before evaluation.

    The configs' ``default_hooks.weights_check`` refuses a checkpoint that
    lacks part of M (also under MMSegmentation's test.py); a config without
    it gets one here.
    """
    default_hooks = cfg.setdefault('default_hooks', {})
    if not default_hooks.get('weights_check'):
        default_hooks['weights_check'] = dict(type='WeightsCheckHook',
                                              check_training=False)
    if allow_partial:
        default_hooks['weights_check']['allow_partial'] = True


def drop_training_hooks(cfg) -> None:
    """Remove the BDL loop's phase hooks (``BDLHook`` subclasses: source
    translation, pseudo-labels, ...) from ``custom_hooks``: they act on
    training phases only, and their set-up lines do not belong in a test's
    console."""
    from mmbdl.engine.hooks import BDLHook
    from mmbdl.registry import HOOKS
    kept = []
    for hook in cfg.get('custom_hooks') or []:
        hook_type = hook.get('type') if isinstance(hook, dict) else hook
        cls = HOOKS.get(hook_type) if isinstance(hook_type, str) \
            else hook_type
        if not (isinstance(cls, type) and issubclass(cls, BDLHook)):
            kept.append(hook)
    if 'custom_hooks' in cfg:
        cfg.custom_hooks = kept


def main(argv=None) -> None:
    from mmbdl.utils import ConfigCheckError, MissingFileError
    args = parse_args(argv)
    from mmengine.runner import Runner

    from mmbdl.apis.test_options import (check_writable_dir,
                                         set_prediction_output, use_tta)
    from mmbdl.utils import load_config, register_all_modules
    from mmbdl.utils.launch import prepare_distributed, set_work_dir

    if not osp.isfile(args.checkpoint):
        raise MissingFileError(
            f'checkpoint {args.checkpoint} does not exist; pass a .pth file '
            'written by tools/train.py')
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    check_weights(cfg, args.allow_partial)
    drop_training_hooks(cfg)
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.format_only and args.out is None:
        raise ConfigCheckError(
            '--format-only writes the predictions to --out DIR; pass --out '
            'as well')
    if args.out is not None:
        # refused here, before the model is built and inference starts
        check_writable_dir(args.out, '--out')
    if args.tta:
        use_tta(cfg, args.config)
    if args.out is not None:
        set_prediction_output(cfg, args.out, args.format_only)
    prepare_distributed(cfg)

    if 'runner_type' in cfg:
        from mmbdl.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    try:
        import mmbdl  # noqa: F401  (checks the installed dependency versions)
    except ImportError as err:
        sys.exit(f'error: {err}')
    from mmbdl.utils import run_cli
    run_cli(main)
