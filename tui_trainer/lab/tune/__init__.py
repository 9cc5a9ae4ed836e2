"""tune: the lecture's whole sequence as stages, each with a verdict (no UI here).

    record = TuneRecord.create("runs", preset)            # or TuneRecord.latest(...) to resume
    with TrialPool.local(2) as pool:
        ended = run_tune(preset, data, record, sink, TuneControl(), pool)

The stages, in order (runner.STAGES):

1. checks: the four sanity checks (lab/checks.py), stopping at the first failure
   with its remedy. An overfit-small that fails only because the preset's rate
   is too low (a higher rate of its ladder passes) is no bug: the net can
   learn, and the next stage finds the rate.
2. lr-find: the range test (lab/lr_find.py) from the preset's initial weights.
3. coarse: a search in log space, one stage of [tune] coarse_trials x
   coarse_epochs. Its learning-rate range is lr-find's spread widened
   LR_MARGIN x each side: the range test measures the first hundred
   mini-batches from init at reg 0, and a longer run with reg and a decaying
   rate may want a little less or more. Its reg range is the preset's
   [search] reg (default 1e-5..10: the lecture's "reg in 10^-5..10^1").
4. fine: a search of fine_trials x fine_epochs (longer trials) over the ranges
   the coarse search suggests for its next search (search.space.suggest_next:
   the span of its good trials, a decade past an edge it warned about).
5. final: the best [tune] final_candidates fine trials (the best coarse one
   when no fine trial finished) continued to final_epochs, each with its
   trial's exact values and seed, so it repeats that trial and goes on; the
   fine search ranked them after fine_epochs, and the best then is not always
   the best at the end. The first trains here, recorded as any run is, while
   the others train on the workers; the best of them (space.best_trial) is the
   final run (trained again here when it was one on the workers). Its best val
   accuracy is at least the best fine trial's; its preset, with the fine
   ranges as its [search], is `tuned.toml`.

The tune folder `RUNS_DIR/tune-PRESET-STAMP-ID/` holds `preset.toml` (what it
started from), `state.json` (each stage's result, written as it ends: what
`--resume` skips), `checks.json`, the lr-find folder, both search folders,
the final run's folder, `tuned.toml` and `report.md` (rewritten after each
stage). Events: TuneStarted, TuneStageStarted / TuneStageEnded per stage,
TuneEnded last; the searches' TrialEnded and the final run's Epoch events go
to the same sink, for faces that show progress.

The modules, by idea: events (what the faces receive), control (stopping from
any thread), results (what each stage found, typed, and state.json read back
as those types), stages (the pure decisions: each search's ranges and preset,
the final candidates, the tuned preset, each stage's plan in words), work
(what each stage does: trains, searches), runner (STAGES, the table of stages,
and run_tune: the sequence, resume), texts (the sentences both faces show)
and report (report.md). The tune folder's files are records/tune_folder.py.

A new stage is one entry in runner.STAGES: its name, title, result type,
plan, work and report part.
"""
