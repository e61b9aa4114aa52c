"""The analysis edge: frames (from a run's records), tool frames (from its transcripts), cache
arithmetic, plots, context cost and Claude Code's own transcripts.

The only layer (with the notebook edge above it) that imports pandas and matplotlib.
"""

__all__: list[str] = []
