"""The advisor's pane in the workbench: newest advice first, coloured by severity."""

from textual.app import App, ComposeResult

from tui_trainer.engine.events import Advice
from tui_trainer.ui.widgets.advice import EMPTY, AdvicePane


class PaneApp(App):
    def compose(self) -> ComposeResult:
        yield AdvicePane()


async def test_advice_shows_newest_first_with_its_remedy():
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(AdvicePane)
        assert EMPTY in str(pane.render())
        pane.add(Advice(20, "loss_flat", "The loss is not going down.", "Raise the learning rate."))
        pane.add(Advice(4, "loss_exploding", "The loss is exploding.", "Lower the learning rate."))
        await pilot.pause()
        text = str(pane.render())
        assert text.index("exploding") < text.index("not going down")  # newest first
        assert "→ Lower the learning rate." in text and "→ Raise the learning rate." in text
        assert EMPTY not in text
        pane.show([])
        await pilot.pause()
        assert EMPTY in str(pane.render())


async def test_severity_decides_the_mark_and_the_colour():
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(AdvicePane)
        pane.show([Advice(4, "loss_exploding", "boom", "lower it"), Advice(9, "loss_noisy", "wiggly", "bigger batch")])
        await pilot.pause()
        rendered = pane.render()
        # Static renders Textual Content; its span styles convert to Rich styles to compare
        spans = {rendered.plain[s.start : s.end]: getattr(s.style, "rich_style", s.style) for s in rendered.spans}
        assert rendered.plain.startswith("i wiggly")  # info, newest
        assert "✗ " in rendered.plain  # error mark
        error_style = pane.get_component_rich_style("advice-error", partial=True)
        info_style = pane.get_component_rich_style("advice-info", partial=True)
        assert spans["boom"].color == error_style.color and spans["wiggly"].color == info_style.color
        assert error_style.color != info_style.color
