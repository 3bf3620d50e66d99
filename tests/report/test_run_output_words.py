"""Counts in the output lines read as words: "1 pair", never "1 pairs"."""

from cvbench.report.ceiling import ceiling_line
from cvbench.report.words import count


def test_one_is_singular_and_the_rest_plural():
    assert count(1, "pair") == "1 pair" and count(3, "pair") == "3 pairs"
    assert count(0, "copy", "copies") == "0 copies"


def test_the_ceiling_line_of_one_pair():
    c = {"workers": 2, "speedup": 1.97, "ci": None, "pairs": 1, "of_ceiling_pct": {}}
    assert "(no CI, 1 pair: 2 copies of the bare loop at once vs one alone)" in ceiling_line("w", c)
