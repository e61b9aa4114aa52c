"""The agent layer: one agent's turn loop (`loop`), what it does next (`steps`), the request hooks
and tool gates through which the layers above wait, refuse and deny (`gates`), and the user's
in-process hooks (`hooks`).

Above models and tools, below the scheduler: nothing here knows about runs, transcripts or
notebooks.
"""

__all__: list[str] = []
