"""What one segmentation step of a phase kind runs, read from the config.

A phase kind of the BDL loop trains M on the sum of its loss terms
(``model.segmentor.loss_terms[kind]``, else the kind's default roles). For
the rehearsal's FLOP estimate and memory probe this module tells, from the
config alone (nothing is built):

- the phase kinds of the config's plan (``train_cfg.plan``, else the
  paper's plan from K / N and the source-only switch);
- whether a kind is labelled online by an EMA teacher
  (``train_cfg.self_training='ema_teacher'`` and a kind that consumes
  pseudo-labels);
- the images each term sends through the student M (with gradients), the
  teacher's forward passes and whether D runs (:func:`step_passes`).
"""
from typing import Dict, List, Optional

from mmbdl.engine.runner.phase_kinds import PSEUDO_LABELS, phase_kind
from mmbdl.engine.runner.phase_plan import (PHASE_KINDS, normalise_plan,
                                            plan_kinds)

# term name -> the image its student pass sees ('source', 'target': M's
# own unmasked target logits, shared by the terms that read them once per
# step, 'mixed' / 'masked': a pass of its own at the target's size) and
# whether it needs the teacher's labels
TERM_PASSES = dict(
    source_ce=('source', False),
    pseudo_label_ce=('target', False),
    teacher_pseudo_label=('target', True),
    class_mix=('mixed', True),
    masked_consistency=('masked', True),
    adversarial=('target', False),
)
_ALIASES = dict(sourcece='source_ce', pseudolabelce='pseudo_label_ce',
                teacherpseudolabel='teacher_pseudo_label',
                classmix='class_mix', maskedconsistency='masked_consistency')


def _plain(node):
    return node.to_dict() if hasattr(node, 'to_dict') else node


def config_kinds(cfg, ssl_rounds: Optional[int] = None) -> List[str]:
    """The phase kinds of the config's plan, in order.

    Args:
        cfg (Config): A BDL config.
        ssl_rounds (int, optional): N of the paper's plan (rehearse.py's
            ``--ssl-rounds``); None: every paper kind. Ignored when the
            config has ``train_cfg.plan``.

    Returns:
        list[str]: Kind names.
    """
    train_cfg = cfg.get('train_cfg') or {}
    plan = train_cfg.get('plan')
    if plan is not None:
        return plan_kinds(normalise_plan(_plain(plan)))
    kinds = ['translation', 'adaptation']
    if train_cfg.get('source_only', True):
        kinds.insert(0, 'source_only')
    if ssl_rounds is None or ssl_rounds > 0:
        kinds.append('self_training')
    return [k for k in kinds if k in PHASE_KINDS]


def is_online(cfg, kind: str) -> bool:
    """Whether ``kind`` is labelled online by the EMA teacher (no
    pseudo-label files; the teacher runs inside the step)."""
    from mmbdl.engine.runner.phase_plan import mode_of
    train_cfg = cfg.get('train_cfg') or {}
    mode = _plain(train_cfg.get('self_training')) or 'offline'
    return (mode_of(mode, kind) == 'ema_teacher'
            and PSEUDO_LABELS in phase_kind(kind).consumes)


def runs_teacher(cfg, kind: str) -> bool:
    """Whether a step of ``kind`` runs the EMA teacher (an online kind, or
    teacher terms listed for it, e.g. the recipe's terms in an adaptation
    phase)."""
    return is_online(cfg, kind) or step_passes(cfg, kind)['teacher'] > 0


def _term_name(entry) -> str:
    name = entry if isinstance(entry, str) else dict(entry).get('type', '')
    key = str(name).split('.')[-1]
    return _ALIASES.get(key.lower(), key.lower())


def kind_terms(cfg, kind: str) -> List[str]:
    """The loss-term names of one step of ``kind`` (roles resolved).

    ``model.segmentor.loss_terms[kind]`` when the config lists it, else the
    kind's default roles; the 'pseudo_labels' role is the teacher's term
    (``class_mix`` with ``ema_cfg.class_mix``) for an online kind, else
    ``pseudo_label_ce``.
    """
    seg = (cfg.get('model') or {}).get('segmentor') or {}
    listed = (seg.get('loss_terms') or {}).get(kind)
    entries = list(listed) if listed is not None else \
        list(phase_kind(kind).loss_terms)
    names = []
    for entry in entries:
        name = _term_name(entry)
        if name == 'pseudo_labels':
            class_mix = (seg.get('ema_cfg') or {}).get('class_mix', False)
            name = ('class_mix' if class_mix else 'teacher_pseudo_label') \
                if is_online(cfg, kind) else 'pseudo_label_ce'
        names.append(name)
    return names


def step_passes(cfg, kind: str) -> Dict[str, object]:
    """The passes of one step of ``kind`` per batch sample.

    Returns:
        dict: ``student`` (list of the images M backpropagates through:
        'source', 'target', 'mixed', 'masked'; the shared target logits
        once), ``teacher`` (forward passes of the teacher: 0, 1, or 2 with
        ``ema_cfg.flip``), ``discriminator`` (bool) and ``terms``.

    Raises:
        ValueError: A term whose passes are not known here.
    """
    terms = kind_terms(cfg, kind)
    student, teacher, disc = [], False, False
    for name in terms:
        if name not in TERM_PASSES:
            raise ValueError(
                f'the rehearsal does not know the passes of loss term '
                f'{name!r} (phase kind {kind!r}); known: '
                f'{sorted(TERM_PASSES)}')
        image, needs_teacher = TERM_PASSES[name]
        if image not in student or image in ('mixed', 'masked'):
            student.append(image)
        teacher = teacher or needs_teacher
        disc = disc or name == 'adversarial'
    seg = (cfg.get('model') or {}).get('segmentor') or {}
    flip = bool((seg.get('ema_cfg') or {}).get('flip', False))
    return dict(student=student, teacher=(2 if flip else 1) if teacher
                else 0, discriminator=disc, terms=terms)
