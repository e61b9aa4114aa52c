"""The notebook edge: magics, the live board and plan/batch widgets, static renderings, and the
kernel interrupt hook.  The only layer that imports IPython and ipywidgets."""

__all__: list[str] = []
