"""skmoe benchmarks in asv's conventions (``time_*``, ``peakmem_*``, ``track_*``).

Run them with ``python benchmarks/run.py`` (no asv needed) or with asv from the
``benchmarks/`` folder (``asv run``).
"""
