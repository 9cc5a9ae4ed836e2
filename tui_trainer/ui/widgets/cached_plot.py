"""A plotext pane that builds its picture only when what it shows changed.

plotext is pure Python, and a pane is rendered again for reasons of its own
(a toast over it, a focus change, a screen popped off): building the plot
each time would cost a frame. A subclass names what its picture depends on
(`data_key`) and draws it (`plot`); the picture is rebuilt when that key, the
pane's size or the theme changed, and served from the cache otherwise.

    class Curve(CachedPlot):
        def data_key(self): return (self.run_number, len(self.ys))
        def plot(self): self.plt.plot(self.xs, self.ys)
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import RenderResult
from textual_plotext import PlotextPlot


class CachedPlot(PlotextPlot):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._key: tuple | None = None
        self._text: RenderResult = ""

    def data_key(self) -> Hashable:
        """What the picture shows, as a hashable value: the picture is rebuilt when it changes."""
        raise NotImplementedError

    def plot(self) -> None:
        """Draw on `self.plt`, which holds no data when this is called."""
        raise NotImplementedError

    def render(self) -> RenderResult:
        key = (self.size, self.app.theme, self.data_key())
        if key != self._key:
            self.plt.clear_data()
            self.plot()
            self._key, self._text = key, super().render()
        return self._text
