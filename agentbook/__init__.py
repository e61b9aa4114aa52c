"""agentbook: run many LLM agents in parallel from a Jupyter notebook, and see what they do and cost."""

__version__ = "0.1.0"
