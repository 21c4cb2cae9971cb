"""Grids: the run options (no torch), planning a selection into tasks × method pipelines × backends, running it,
and ``--config`` files.
"""
