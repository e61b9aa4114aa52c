"""The agent layer: one agent's turn loop and the hooks around its tool calls.

Above models and tools, below the scheduler: nothing here knows about runs, transcripts or
notebooks.
"""
