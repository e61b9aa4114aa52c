"""agentbook's version, importable from every layer (the package root imports the edges)."""

__all__: list[str] = []

__version__ = "0.1.0"
