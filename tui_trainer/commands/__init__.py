"""The subcommands: one module each, each with `command(args) -> int`."""
