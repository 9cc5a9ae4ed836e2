"""Coarse-to-fine random search in log space.

space (ranges, sampling, ranking, narrowing, edge of range), trial (one trial
as a pure function of preset, trial and seed), store (SQLite, WAL), runner
(stages over any concurrent.futures Executor: a local pool or Dask), texts
(what both faces say). The faces are commands/search.py and ui/search_screen.py.
"""
