"""The lecture's procedures, built on the engine: the sanity checks, the
advisor, the learning-rate range test, coarse-to-fine search, tune (the whole
sequence), and the one composition of a recorded run they all train through."""
