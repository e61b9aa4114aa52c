"""agentbook's version, importable from every layer (the package root imports the edges)."""

__version__ = "0.1.0"
