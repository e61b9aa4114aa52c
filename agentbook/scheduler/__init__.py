"""The scheduler: runs of many agents on the background thread, their records, transcripts,
manifests, rate gate and cache warm-up.

It names no edge (notebook, analysis, CLI): those attach themselves through
`agentbook.scheduler.observers`.
"""

__all__: list[str] = []
