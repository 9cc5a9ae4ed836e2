"""What the procedures leave on disk: the run folder, the search store, the
tune and lr-find folders, and the atomic writes they all make."""
