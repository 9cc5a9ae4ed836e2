"""Shared by every test: the suite never reads or fills the user's data cache.

A preset without a data.path (cifar10-2layer) reads from where `data fetch`
puts data sets, ~/.cache/tui-trainer; each test gets an empty folder there
instead (TUI_TRAINER_DATA_DIR, which subprocesses inherit), so a developer's
fetched CIFAR-10 cannot change what a test sees.
"""

from __future__ import annotations

import pytest

from tui_trainer.datasets.cache import DATA_DIR_ENV


@pytest.fixture(autouse=True)
def empty_data_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path_factory.mktemp("data-cache")))
