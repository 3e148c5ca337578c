"""Registration of all modules under the ``mmbdl`` scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register MMSegmentation, MMagic and mmbdl modules in their registries.

    Importing the packages runs their ``register_module`` decorators.
    MMagic's registries become children of MMEngine's root registries on
    import, which is what lets ``type='mmagic.ResnetGenerator'`` resolve from
    the ``mmbdl`` scope.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmbdl'`` so that registries look in mmbdl's registries first.
            Defaults to True.
    """
    import mmagic.registry  # noqa: F401  (makes scope 'mmagic' reachable)
    import mmseg.utils

    mmseg.utils.register_all_modules(init_default_scope=False)
    # not imported by mmseg's register_all_modules, but used by our configs
    import mmseg.visualization  # noqa: F401

    import mmbdl.datasets  # noqa: F401,F403
    import mmbdl.engine  # noqa: F401,F403
    import mmbdl.evaluation  # noqa: F401,F403
    import mmbdl.models  # noqa: F401,F403
    import mmbdl.visualization  # noqa: F401,F403

    if not init_default_scope:
        return
    never_created = (DefaultScope.get_current_instance() is None
                     or not DefaultScope.check_instance_created('mmbdl'))
    if never_created:
        DefaultScope.get_instance('mmbdl', scope_name='mmbdl')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'mmbdl':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "mmbdl", '
                      '`register_all_modules` will force the current '
                      'default scope to be "mmbdl". If this is not expected, '
                      'please set `init_default_scope=False`.')
        # avoid name conflict
        new_instance_name = f'mmbdl-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='mmbdl')
