"""The release's adversarial training step (BDL.py), for speed comparisons.

Loads ``model/deeplab.py`` and ``model/discriminator.py`` from a local copy
of the original repository (never part of mmbdl; the path is given by the
user) and runs one iteration of its Eq. 1 loop the way ``BDL.py`` does:
source forward and backward, target forward, the discriminator on the
target softmax with its parameters frozen (lambda_adv 1e-3), backward, then
the discriminator on both detached softmaxes (each loss halved), backward,
and the two optimizer steps. Its ``.cuda()`` calls are redirected to the
chosen device.
"""
import importlib.util
import os.path as osp
import sys
import types

import torch
import torch.nn.functional as F


class _OnDevice:
    """What the release's ``Variable(x)`` returns: ``.cuda()`` moves to
    the benchmark's device instead of always to CUDA."""

    device = 'cpu'

    def __init__(self, tensor):
        self.tensor = tensor

    def cuda(self):
        return self.tensor.to(self.device)


def _load(path: str, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.Variable = _OnDevice
    return module


def load_release(root: str, device: str):
    """The release's DeepLab-v2 and output-space discriminator classes.

    Args:
        root (str): Folder holding ``model/deeplab.py`` and
            ``model/discriminator.py`` of the original repository.
        device (str): Where ``.cuda()`` calls of the release go.

    Returns:
        tuple: ``(deeplab_module, discriminator_module)``.
    """
    paths = [osp.join(root, 'model', f)
             for f in ('deeplab.py', 'discriminator.py')]
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'--compare-release {root}: {missing[0]} not found; pass the '
            'folder of a local copy of the original BDL repository (the '
            'one that holds model/deeplab.py and model/discriminator.py)')
    _OnDevice.device = device
    return (_load(paths[0], 'bdl_release_deeplab'),
            _load(paths[1], 'bdl_release_discriminator'))


class ReleaseStep:
    """One ``BDL.py`` iteration on fixed tensors.

    Args:
        root (str): Folder of the original repository.
        num_classes (int): Classes. Defaults to 19.
        device (str): Device. Defaults to 'cpu'.
    """

    def __init__(self, root: str, num_classes: int = 19,
                 device: str = 'cpu') -> None:
        deeplab, disc = load_release(root, device)
        self.model = deeplab.Deeplab(num_classes=num_classes).to(device)
        self.model_d = disc.FCDiscriminator(num_classes).to(device)
        self.model.train()
        self.model_d.train()
        self.optimizer = torch.optim.SGD(
            self.model.optim_parameters(_Args()), lr=2.5e-4, momentum=0.9,
            weight_decay=5e-4)
        self.optimizer_d = torch.optim.Adam(self.model_d.parameters(),
                                            lr=1e-4, betas=(0.9, 0.99))
        self.lambda_adv = 1e-3

    def __call__(self, src_img, src_lbl, trg_img) -> None:
        model, model_d = self.model, self.model_d
        self.optimizer.zero_grad()
        self.optimizer_d.zero_grad()
        for param in model_d.parameters():
            param.requires_grad = False
        src_score = model(src_img, lbl=src_lbl)
        model.loss.backward()
        trg_score = model(trg_img)
        model_d(F.softmax(trg_score, dim=1), 0)
        (self.lambda_adv * model_d.loss).backward()
        for param in model_d.parameters():
            param.requires_grad = True
        src_score, trg_score = src_score.detach(), trg_score.detach()
        model_d(F.softmax(src_score, dim=1), 0)
        (model_d.loss / 2).backward()
        model_d(F.softmax(trg_score, dim=1), 1)
        (model_d.loss / 2).backward()
        self.optimizer.step()
        self.optimizer_d.step()


class _Args:
    learning_rate = 2.5e-4
