"""Seed sets of BDL runs: one run per seed, their configs checked against
the requested one, their round tables merged (``multi_seed.py``,
``ablation.py``)."""
