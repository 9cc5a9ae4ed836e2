"""report.md: what each stage found and why the next took its ranges, with the
curves as text. Rewritten after each stage, so a stopped tune has one too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...formatting import accuracy, hyperparameter, plural
from ...records.lr_find_folder import RESULT_FILE, read_record
from ...records.run_folder import read_metrics
from ...records.tune_folder import TuneRecord
from ..charts import Chart, accuracy_lines, draw_accuracy
from ..evidence import fit_words
from ..history import History
from ..lr_find import METHODS, SUGGESTED, curve_text
from ..search.importance import report_lines
from ..search.leaders import leader_lines
from .results import ChecksResult, FinalResult, LrFindResult, SearchStageResult, StageEntry, TuneState
from .stages import LR_MARGIN, coarse_ranges
from .texts import held_out_line

if TYPE_CHECKING:  # the table of stages imports this module for each stage's part
    from .runner import Stage


def report_text(record: TuneRecord, state: TuneState, stages: Sequence[Stage]) -> str:
    """report.md: each stage in order (`stages`: runner.STAGES), what it planned and found."""
    p = record.preset
    tc = p.tune
    lines = [
        f"# Tuning {p.name}",
        "",
        f"The lecture's sequence on `{p.name}` ({p.data.dataset}), from `{record.path / 'preset.toml'}`: "
        "check the setup, find a learning rate, search coarse then fine in log space, then train the best. "
        f"Budget ([tune]): coarse {plural(tc.coarse_trials, 'trial')} x {plural(tc.coarse_epochs, 'epoch')}, "
        f"fine {plural(tc.fine_trials, 'trial')} x {plural(tc.fine_epochs, 'epoch')}, "
        f"final run {plural(tc.final_epochs, 'epoch')}.",
        "",
    ]
    for number, stage in enumerate(stages, 1):
        entry = state.entry(stage.name)
        if entry is None:
            lines += [f"## {number}. {stage.title}: not run", ""]
            continue
        lines += [f"## {number}. {stage.title}: {entry.verdict}", "", f"Plan: {entry.plan}.", ""]
        lines += stage.report(record, entry)
        lines += [f"Found: {entry.summary}.", ""]
        if entry.path:
            lines += [f"Record: `{entry.path}`.", ""]
    final = state.entry("final")
    if final is not None and final.verdict == "done":
        lines += [
            "## Result",
            "",
            f"`{record.tuned_path}` is ready: `tui-trainer run {record.tuned_path}` trains it; "
            f"`tui-trainer search {record.tuned_path}` searches its fine ranges again.",
            "",
        ]
        result = state.result("final", FinalResult)
        if result.test_acc is not None:  # an older tune's report reads as it did
            lines += [held_out_line(result.best_val_acc, result.test_acc, result.n_test) + ".", ""]
    return "\n".join(lines)


def checks_part(record: TuneRecord, entry: StageEntry[ChecksResult]) -> list[str]:
    lines = [
        "Before spending time on a search, the lecture checks that the loss at init is what chance gives "
        "(ln C for softmax with small weights), that raising reg raises it, that the analytic gradient "
        "matches a numerical one, and that the net can overfit a tiny subset with reg 0.",
        "",
        "| check | value | expected | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for c in entry.result.checks:
        lines.append(f"| {c.name} | {c.value} | {c.expected} | {'pass' if c.passed else 'FAIL'} |")
    remedy = entry.result.remedy
    lines += [""] + ([f"Remedy: {remedy}", ""] if remedy else [])
    return lines


def lr_find_part(record: TuneRecord, entry: StageEntry[LrFindResult]) -> list[str]:
    res = entry.result
    lines = [
        "The learning rate grows exponentially from 1e-7 over 100 mini-batches (reg 0, the preset's "
        "initial weights) until the smoothed loss passes 4x its best; the usual suggestions are read off "
        "the curve of each of 3 seeds and their median taken.",
        "",
        "| method | median lr |",
        "| --- | --- |",
    ]
    for m in METHODS:
        v = res.suggestions.get(m)
        lines.append(f"| {m}{' (suggested)' if m == SUGGESTED else ''} | {'-' if v is None else hyperparameter(v)} |")
    lines.append("")
    # A tune folder moved elsewhere names an lr-find folder that is not there: no curve, as
    # for a missing run; a result.json that is there and was edited by hand is bad input (exit 2).
    if (Path(entry.path) / RESULT_FILE).is_file():
        sweeps, ended = read_record(entry.path)
        curve = curve_text(sweeps, res.suggestions, width=90, height=18)
        lines += ["```", curve, "```", ""] if curve else []
        lines += [line for w in ended.warnings for line in (f"Warning: {w}.", "")]
    if res.spread:
        lo, hi = res.spread
        r = coarse_ranges(record.preset, res.spread)
        lines += [
            f"Why the coarse search takes lr {hyperparameter(r['learning_rate'][0])}.."
            f"{hyperparameter(r['learning_rate'][1])}: every suggestion lies in [{hyperparameter(lo)}, "
            f"{hyperparameter(hi)}], and the range test sees only the first hundred mini-batches from init "
            f"at reg 0, so the search looks {LR_MARGIN:g}x further each side; reg "
            f"{hyperparameter(r['reg'][0])}..{hyperparameter(r['reg'][1])} comes from the preset's [search].",
            "",
        ]
    return lines


def search_part(record: TuneRecord, entry: StageEntry[SearchStageResult]) -> list[str]:
    res = entry.result
    lines = ["| trial | val acc | learning rate | reg | epochs |", "| --- | --- | --- | --- | --- |"]
    for r in res.ranking[:5]:
        lines.append(
            f"| {r.trial_id} | {accuracy(r.best_val_acc)} | {hyperparameter(r.params['learning_rate'])} | "
            f"{hyperparameter(r.params['reg'])} | {r.epochs} |"
        )
    lines.append("")
    if res.leaders:  # [search] leader_seeds: the best is the best mean over seeds
        lines += ["```", *leader_lines(res.leaders), "```", ""]
    picture = report_lines(entry.path, 90) if entry.path else []  # every trial, not only the five above
    if picture:
        lines += ["Which hyperparameter mattered, over every trial of this search:", "", "```", *picture, "```", ""]
    for w in res.warnings:
        lines += [f"Warning: {w}", ""]
    nr = res.next_ranges
    if nr:
        lines += [
            f"Suggested next ranges: lr {hyperparameter(nr['learning_rate'][0])}.."
            f"{hyperparameter(nr['learning_rate'][1])}, reg {hyperparameter(nr['reg'][0])}.."
            f"{hyperparameter(nr['reg'][1])}: the log span of the best trials that reached 90% of the best "
            "val accuracy, widened a little"
            + (
                ", and a decade further past the edge the search warned about (the best value at the edge of "
                "its range means the optimum may lie beyond it)."
                if res.warnings
                else "."
            ),
            "",
        ]
    return lines


def final_part(record: TuneRecord, entry: StageEntry[FinalResult]) -> list[str]:
    run = entry.result.run
    if not run:
        return []
    try:
        events = read_metrics(run)
    except OSError:
        return []
    epochs = [e for e in events if e.get("event") == "epoch"]
    if not epochs:
        return []
    text = _accuracy_curves(epochs)
    # the advisor's reading of the same accuracies: chance, one class, the gap (lab/evidence.py)
    words = fit_words(History.from_events(events))
    return [
        *_candidates(record, entry.result),
        "```",
        text,
        "```",
        "",
        f"Last epoch: train {accuracy(epochs[-1]['train_acc'])}, val {accuracy(epochs[-1]['val_acc'])}: {words}.",
        "",
    ]


def _candidates(record: TuneRecord, result: FinalResult) -> list[str]:
    cands = result.candidates
    seeds = _leaders(result)
    if len(cands) < 2:
        return seeds
    which = "the best mean over seeds (below)" if result.leaders else "the best of them"
    lines = [
        f"The fine search ranked its trials after {record.preset.tune.fine_epochs} epochs; the best then is not "
        f"always the best after {record.preset.tune.final_epochs}, so its best {len(cands)} went on (each "
        f"with its values and seed, so it repeats its trial first) and {which} is the final run:",
        "",
        f"| fine trial | val acc after {record.preset.tune.final_epochs} epochs | best epoch | learning rate | reg |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in cands:
        chosen = " (final)" if c.trial == result.trial else ""
        lines.append(
            f"| {c.trial}{chosen} | {accuracy(c.best_val_acc)} | {c.best_epoch or '-'} | "
            f"{hyperparameter(c.learning_rate)} | {hyperparameter(c.reg)} |"
        )
    return [*lines, "", *seeds]


def _leaders(result: FinalResult) -> list[str]:
    """[tune] leader_seeds: each leader's mean ± std over its seeds, and whether the final run's lead
    is more than seed noise; one lucky seed should not choose the tuned preset."""
    if not result.leaders:
        return []
    return [
        "Each leader also ran with other train seeds (the data split kept), and the best mean was chosen:",
        "",
        "```",
        *leader_lines(result.leaders),
        "```",
        "",
    ]


def _accuracy_curves(epochs: list[dict]) -> str:
    """Train and val accuracy per epoch, drawn as text. plotext is imported here, when a
    report is written, and nowhere else in the middle layer's tune."""
    import plotext as plt

    chart = Chart(90, 16, xlabel="epoch")
    x = [e["epoch"] for e in epochs]
    accuracy_lines(chart, x, [e["train_acc"] for e in epochs], [e["val_acc"] for e in epochs])
    plt.clear_figure()
    plt.plotsize(chart.width, chart.height)
    plt.theme("clear")
    draw_accuracy(chart, plt, x=(0.0, float(max(x[-1], 1))))
    text = plt.uncolorize(plt.build())
    plt.clear_figure()
    return text
