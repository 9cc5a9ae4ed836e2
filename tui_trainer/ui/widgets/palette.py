"""Plot colours, as RGB for plotext; Textual maps them down to 256 colours or
strips them under NO_COLOR, so each series also differs by its marker
(charts.MARKERS) and is named where it ends.

`hex` is the one way an RGB colour becomes markup (legends in border titles),
for every pane and screen of the workbench."""

from ...lab.charts import TRAIN_MARKER, VAL_MARKER, glyph

RAW = (108, 112, 134)  # the per-iteration loss: faint
SMOOTH = (97, 175, 239)  # the smoothed loss over it
GHOSTS = ((88, 88, 98), (74, 74, 84), (64, 64, 72))  # earlier runs, newest first
TRAIN = (229, 192, 123)  # train accuracy
VAL = (152, 195, 121)  # val accuracy
# The accuracy markers, the same in every pane and view that plots them (legends say them).
TRAIN_MARK, VAL_MARK = glyph(TRAIN_MARKER), glyph(VAL_MARKER)


def hex(rgb: tuple[int, int, int]) -> str:
    """'#rrggbb', for Textual markup in border titles."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)
