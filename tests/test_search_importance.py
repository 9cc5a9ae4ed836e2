"""Which hyperparameter matters: Spearman's rho per searched key, and the scatter row, on a
search whose answer is known by construction, and in the faces that show them."""

from __future__ import annotations

import pytest
from test_search import cli, small, synthetic_search  # noqa: F401 - small is a fixture

from tui_trainer.lab.search.importance import (
    METHOD,
    importance,
    importance_lines,
    ranks,
    recorded_points,
    scatter_row,
    spearman,
)


def test_within_chance_is_under_twice_rhos_standard_error():
    from tui_trainer.lab.search.importance import Importance, within_chance

    assert within_chance(Importance("reg", 0.36, 30)) and not within_chance(Importance("reg", 0.38, 30))
    assert within_chance(Importance("reg", 1.0, 2))  # two trials say nothing


def test_spearman_is_the_correlation_of_ranks_with_ties_shared():
    assert ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)  # any monotone rise
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1], [2]) is None  # nothing to rank


def test_on_a_search_where_only_the_rate_matters_the_rate_comes_first_with_rho_1(tmp_path):
    # below the synthetic peak (1e-2) val acc rises with lr alone; reg and hidden do nothing
    ended, _ = synthetic_search(tmp_path, "[1e-6, 1e-3]")
    points = recorded_points(ended.path)  # read back from the search's store, as the report does
    assert len(points) == ended.trials == 30
    rows = importance(points)
    assert rows[0].key == "learning_rate" and rows[0].rho == pytest.approx(1.0) and rows[0].n == 30
    # reg and hidden do nothing, though on 30 trials (the fine stage's drawn near the best) they
    # reach some rho by chance; the rate stands clear of them
    assert all(abs(r.rho) < 0.7 for r in rows[1:] if r.rho is not None)
    assert importance(points[:20])[0].key == "learning_rate"  # the coarse stage alone says the same
    lines = importance_lines(points)
    assert lines[0] == f"importance: {METHOD}"
    assert lines[2].split()[:2] == ["learning_rate", "+1.00"]


def test_the_scatter_row_marks_the_best_trial_in_every_panel_and_fits_80_columns():
    points = [
        ({"learning_rate": 10.0**-k, "reg": 0.1, "hidden": h}, 0.9 - 0.1 * k) for k, h in ((1, 20), (2, 50), (3, 20))
    ]
    points.append(({"learning_rate": 1e-4, "reg": 0.1, "hidden": 50}, None))  # exploded: not drawn
    lines = scatter_row(points, 80)
    assert all(len(line) <= 80 and line.isascii() for line in lines)  # plain text: no colour needed
    top = lines[1]  # the best val acc's row
    assert top.startswith("0.800 |") and top.count("*") == 2  # reg took one value: no panel of its own
    assert lines[-1].split() == ["learning_rate", "(log)", "hidden"]
    assert "0.001" in lines[-2] and "0.1" in lines[-2]
    assert scatter_row([({"learning_rate": 0.1}, None)]) == []


def test_a_search_prints_the_importance_and_the_picture_at_its_end(small, tmp_path):  # noqa: F811
    done = cli(
        "search",
        str(small),
        "--workers",
        "1",
        "--runs-dir",
        str(tmp_path),
        "--set",
        "search.stages=[{trials=4,epochs=1}]",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"importance: {METHOD}" in out and "val acc against each searched value (4 trials; * the best)" in out
    assert out.index("importance:") < out.index("next, finer search")
