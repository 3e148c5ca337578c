from .bdl import BDL

__all__ = ['BDL']
