"""The workbench's panes, one small class per module."""
