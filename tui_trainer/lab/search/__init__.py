"""Coarse-to-fine random search in log space.

space (the values as one mapping per trial, sampled from ranges by the table
searched.SEARCHED; ranking, narrowing, edge of range; apply_params), trial (one
trial as a pure function of preset, trial and seed), pool (where trials run: a
local process pool, a Dask cluster or threads, and their stop flags), runner
(the stages' loop and its events), refine (the next, finer search: next.toml),
texts (what both faces say). The store is records/search_store.py; the faces
are commands/search.py and ui/screens/search.py.
"""
