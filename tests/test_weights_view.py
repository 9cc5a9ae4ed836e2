"""The first-layer view in the terminal: half-block tiles, fitted, cached, fed once per epoch."""

import threading

import numpy as np
import pytest
from test_weights import write_cifar_format
from textual.app import App, ComposeResult

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.ui.host_events import LayerSnapshot
from tui_trainer.ui.trainer_host import snapshot_hook
from tui_trainer.ui.widgets.weights_view import HALF, WAITING, WeightsView

SIZE = (80, 28)


class ViewApp(App):
    CSS = "WeightsView { border: round $foreground 40%; }"

    def __init__(self, w1=None, image_shape=(), epoch=None):
        super().__init__()
        self.w1, self.image_shape, self.epoch = w1, image_shape, epoch

    def compose(self) -> ComposeResult:
        yield WeightsView()

    def on_mount(self) -> None:
        if self.w1 is not None:
            self.query_one(WeightsView).show_weights(self.w1, self.image_shape, self.epoch)


def trained_w1(preset, data):
    trainer = Trainer(preset, data, lambda e: None)
    assert trainer.run().status == "finished"
    return trainer.net.params["W1"].copy()


@pytest.fixture(scope="module")
def mnist_w1():
    # float64 so the picture does not hang on float32 rounding of one BLAS or another
    preset = load_preset("default", ["train.epochs=1", "model.dtype=float64"])
    return trained_w1(preset, load_dataset(preset.data)), (28, 28, 1)


@pytest.fixture(scope="module")
def cifar_w1(tmp_path_factory):
    """A net trained on generated images written in CIFAR-10's own format and read by its loader."""
    toml = write_cifar_format(tmp_path_factory.mktemp("cifar"))
    preset = load_preset(toml, ["train.epochs=20", "model.dtype=float64"])
    data = load_dataset(preset.data)
    assert data.image_shape == (32, 32, 3)
    return trained_w1(preset, data), data.image_shape


def test_snapshot_mnist_weights(snap_compare, mnist_w1):
    assert snap_compare(ViewApp(*mnist_w1, epoch=1), terminal_size=SIZE)


def test_snapshot_cifar_format_weights(snap_compare, cifar_w1):
    assert snap_compare(ViewApp(*cifar_w1, epoch=20), terminal_size=SIZE)


def cells(view):
    """(upper, lower) RGB of every half-block cell the view draws, and the text of every line."""
    pairs, texts = [], []
    for y in range(view.size.height):
        strip = view.render_line(y)
        texts.append(strip.text)
        for seg in strip:
            if HALF in seg.text:
                pairs.append((seg.style.color.get_truecolor(), seg.style.bgcolor.get_truecolor()))
    return pairs, texts


async def test_mnist_tiles_are_grey_half_blocks_that_fit_the_pane(mnist_w1):
    app = ViewApp(*mnist_w1, epoch=1)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(WeightsView)
        await pilot.pause()
        pairs, texts = cells(view)
        assert pairs and all(len(t) == view.size.width for t in texts)
        assert all(c[0] == c[1] == c[2] for pair in pairs for c in pair)  # grey
        assert "50 units, 28x28 grey" in view.border_subtitle and "epoch 1" in view.border_subtitle
        pic = view.picture(*view.size)
        assert pic.shape[1] <= view.size.width and pic.shape[0] <= 2 * view.size.height
        # 50 tiles, shrunk from 28 pixels to what fits, on a padded grid
        n_dark_cols = int((pic.max(axis=(0, 2)) == 0).sum())
        assert n_dark_cols >= 7


async def test_cifar_format_tiles_are_in_colour(cifar_w1):
    app = ViewApp(*cifar_w1)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(WeightsView)
        await pilot.pause()
        pairs, _ = cells(view)
        assert any(c[0] != c[2] for pair in pairs for c in pair)
        assert "10 units, 32x32 colour" in view.border_subtitle


async def test_non_image_data_get_a_message_instead():
    app = ViewApp(np.zeros((2, 50)), ())
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(WeightsView)
        await pilot.pause()
        pairs, texts = cells(view)
        assert not pairs
        assert "not images" in " ".join(texts)


async def test_before_any_epoch_the_view_says_when_pictures_come():
    app = ViewApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _, texts = cells(app.query_one(WeightsView))
        assert WAITING.split(":")[0][:30] in " ".join(texts)


async def test_drawn_once_per_snapshot_and_size(mnist_w1):
    app = ViewApp(*mnist_w1)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(WeightsView)
        await pilot.pause()
        calls = []
        original = view._draw
        view._draw = lambda w, h: calls.append((w, h)) or original(w, h)
        for _ in range(3):
            for y in range(view.size.height):
                view.render_line(y)
        assert calls == []  # cached since the first draw
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        for y in range(view.size.height):
            view.render_line(y)
        assert calls == [tuple(view.size)]  # a new size: drawn once more


async def test_the_hosts_snapshot_hook_sends_a_copy_the_view_shows():
    preset = load_preset(
        "default",
        [
            "train.epochs=2",
            "data.dataset=digits",
            "data.num_train=1000",
            "data.num_val=300",
            "data.num_test=0",
            "train.learning_rate=1e-2",
        ],
    )
    data = load_dataset(preset.data)

    app = ViewApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(WeightsView)
        seen, sent = [], []
        hook = snapshot_hook(sent.append, preset.train.epochs)
        trainer = Trainer(
            preset, data, lambda e: None, on_epoch=lambda t: (hook(t), seen.append(t.net.params["W1"].copy()))
        )
        thread = threading.Thread(target=trainer.run)
        thread.start()
        thread.join(timeout=60)
        snapshot = sent[-1]
        assert isinstance(snapshot, LayerSnapshot)
        view.show_weights(snapshot.w1, snapshot.image_shape, snapshot.epoch)
        await pilot.pause()
        assert view.epoch == 2 and view.tiles.shape == (50, 8, 8, 3)
        # the tiles are the weights as they were at the end of epoch 2
        col = seen[-1][:, 0].reshape(8, 8)
        assert np.corrcoef(view.tiles[0, :, :, 0].ravel(), col.ravel())[0, 1] > 0.99
