"""Modal screens of the workbench: the edit form, the preset picker, help."""
