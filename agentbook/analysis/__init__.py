"""The analysis edge: frames, plots, context cost and Claude Code's own transcripts.

The only layer (with the notebook edge above it) that imports pandas and matplotlib.
"""
