"""The parallel ceiling's words: the terminal line, and the HTML report's, whatever a
(hand-edited) results file holds there."""

from __future__ import annotations

from cvbench.report.ceiling import ceiling_line
from cvbench.report.html import _ceiling_html

GOOD = {
    "workers": 2,
    "speedup": 1.84,
    "ci": [1.8, 1.9],
    "pairs": 7,
    "of_ceiling_pct": {"threads": 95.0, "<b>x</b>": 50.0},
}


def test_line_names_the_ceiling_its_ci_and_each_models_share_best_first():
    line = ceiling_line("threshold", GOOD)
    assert line.startswith("parallel ceiling on threshold at 2 workers: 1.84x (95 % CI 1.80-1.90")
    assert line.index("threads 95 %") < line.index("<b>x</b> 50 %")
    assert "not measured (boom)" in ceiling_line("faces", {"error": "boom"})


def test_html_escapes_and_skips_what_it_cannot_read():
    html = _ceiling_html({"t<s>": GOOD, "bad": {"speedup": "fast"}, "worse": [1, 2]})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "t&lt;s&gt;" in html and "<b>" not in html
    assert html.count("<p>") == 1
    assert _ceiling_html(["not", "a", "dict"]) == "" and _ceiling_html(None) == ""
