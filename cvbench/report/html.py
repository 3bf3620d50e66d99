"""One self-contained HTML report of a results file: environment, summary tables, charts and
what was skipped.

Self-contained so it can be attached to a CI run or mailed and still open offline: charts are
PNG data URIs, the CSS is inline, there is no script, and a Content-Security-Policy forbids
any fetch.  The tables are the terminal's Rich tables (``tables.py``) converted cell by cell,
so the two never disagree about columns, rounding or the "best" highlight.  The markup is
XHTML-compatible HTML5 (void elements self-closed, everything escaped), so an XML parser
accepts it too.
"""

from __future__ import annotations

import base64
import datetime as dt
import shlex
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from cvbench.overhead import overhead_note
from cvbench.report import tables
from cvbench.report.ceiling import ceiling_line
from cvbench.report.charts import Data, load_results, make_plots, prepare
from cvbench.report.findings import findings
from cvbench.results.summary import summarize_rows
from cvbench.results.write import atomic_write

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       background: #fff; margin: 0 auto; max-width: 1180px; padding: 1.2em 1.6em 3em; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #ddd;
     padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
table { border-collapse: collapse; margin: 0.4em 0 0.3em; font-size: 13px; }
th, td { border: 1px solid #d6d6d6; padding: 3px 8px; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { color: #0a6b1f; font-weight: 700; }
td.bad { color: #b00020; }
.wrap { overflow-x: auto; }
.caption { color: #555; font-size: 13px; margin: 0.2em 0 1em; max-width: 95ch; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 13px; max-width: 95ch; }
ul.notes li { margin: 0.15em 0; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: -0.1em;
          margin-right: 0.3em; border-radius: 2px; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

#: Chart file stem prefix → (heading, how to read it).
CHART_TEXT: dict[str, tuple[str, str]] = {
    "scaling": (
        "Scaling: throughput vs workers",
        "Median throughput over repetitions (bars: min–max) per model. The dotted line is "
        "ideal linear scaling from the sequential model; the dash-dot line is the sequential "
        "baseline. Dashed models run on one OS thread.",
    ),
    "latency_cdf": (
        "Per-item latency distribution",
        "Fraction of items finished within x ms of arriving, all repetitions at the model's "
        "largest worker count. Further left is better; a long flat tail is head-of-line "
        "blocking.",
    ),
    "lag_cdf": (
        "Responsiveness: heartbeat lag distribution",
        "Lateness of a 1 ms heartbeat in the model's own scheduling domain. Cooperative models "
        "cannot run it during an item, so their lag is about one item's service time.",
    ),
    "ctx_switches": (
        "Context switches per item",
        "Kernel context switches per item (all threads and child processes), voluntary below, "
        "involuntary (hatched) on top; one bar per worker count.",
    ),
    "timeline": (
        "Timeline",
        "Which worker ran which item when (first repetition, largest worker count), and below "
        "it the emulated kernel's schedule of the sequential model's service times on as many "
        "pool workers and cores: the gap between them is the models' own overhead.",
    ),
    "predicted": (
        "Processes: measured vs predicted",
        "The processes model's measured throughput against the emulated kernel's prediction "
        "(no pool start-up, pickling or IPC cost, so the prediction is an upper bound).",
    ),
}


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _cell_html(cell: Any, numeric: bool) -> str:
    """A Rich cell (markup string or Text) as a <td>, keeping the best/failed highlight."""
    text = cell if isinstance(cell, Text) else Text.from_markup(str(cell))
    styles = " ".join(str(s.style) for s in text.spans) + " " + str(text.style)
    cls = ["num"] if numeric else []
    if "green" in styles:
        cls.append("best")
    elif "red" in styles:
        cls.append("bad")
    attr = f' class="{" ".join(cls)}"' if cls else ""
    return f"<td{attr}>{_e(text.plain)}</td>"


def rich_table_html(table: Table) -> str:
    """A Rich table as an HTML table with its title as <h3> and caption below."""
    cols = table.columns
    head = "".join(f"<th>{_e(Text.from_markup(str(c.header)).plain)}</th>" for c in cols)
    cells = [list(c.cells) for c in cols]
    body = []
    for i in range(table.row_count):
        tds = "".join(_cell_html(cells[j][i], cols[j].justify == "right") for j in range(len(cols)))
        body.append(f"<tr>{tds}</tr>")
    title = Text.from_markup(str(table.title)).plain if table.title else ""
    caption = Text.from_markup(str(table.caption)).plain if table.caption else ""
    return (
        (f"<h3>{_e(title)}</h3>\n" if title else "")
        + f'<div class="wrap"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table></div>\n"
        + (f'<p class="caption">{_e(caption)}</p>\n' if caption else "")
    )


MAX_ENV_TEXT = 300  # characters of one environment value in the report


def env_rows(key: str, value: Any, depth: int = 0) -> list[tuple[str, str]]:
    """(name, readable value) rows: nested tables (calibration, noise checks) become one row
    per leaf ("noise.before.load: load average 0.12 …") instead of a raw dict dump; a check
    reads as its status and message."""
    if isinstance(value, dict) and "message" in value and "status" in value:
        return [(key, f"{value['status']}: {value['message']}")]
    if isinstance(value, dict) and depth < 3:
        return [row for k, v in value.items() for row in env_rows(f"{key}.{k}", v, depth + 1)]
    if key == "command" and isinstance(value, list):
        text = shlex.join(str(x) for x in value)
    elif isinstance(value, list) and all(not isinstance(x, dict | list) for x in value):
        text = ", ".join(f"{x:.2f}" if isinstance(x, float) else str(x) for x in value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif value is None:
        text = "–"
    else:
        text = str(value)
    return [(key, text if len(text) <= MAX_ENV_TEXT else text[: MAX_ENV_TEXT - 1] + "…")]


def _env_html(data: Data) -> str:
    env = data.env
    rows = [
        f"<tr><th>{_e(name)}</th><td>{_e(text)}</td></tr>"
        for k, v in env.items()
        for name, text in env_rows(k, v)
    ]
    out = '<div class="wrap"><table>\n' + "\n".join(rows) + "\n</table></div>\n"
    overhead = data.extra.get("harness_overhead") or {}
    if overhead:
        out += (
            "<h3>Harness overhead</h3>\n<table>\n<thead><tr><th>workload</th>"
            "<th>around the items</th><th>95 % CI</th><th>pairs</th>"
            "<th>bare loop s</th><th>sequential model s</th><th>vs bare loop</th><th>95 % CI</th>"
            "<th>pairs</th><th></th></tr></thead>\n"
        )
        for w, o in overhead.items():
            out += (
                f"<tr><td>{_e(w)}</td>"
                f"<td class='num'>{_pct(o.get('outside_items_pct'))}</td>"
                f"<td class='num'>{_pct_ci(o.get('outside_items_ci_pct'))}</td>"
                f"<td class='num'>{o.get('outside_items_pairs', '')}</td>"
                f"<td class='num'>{o.get('bare_loop_s', 0):.4f}</td>"
                f"<td class='num'>{o.get('sequential_s', 0):.4f}</td>"
                f"<td class='num'>{_pct(o.get('overhead_pct'))}</td>"
                f"<td class='num'>{_pct_ci(o.get('ci_pct'))}</td>"
                f"<td class='num'>{o.get('pairs', '')}</td><td>{_e(overhead_note(o))}</td></tr>\n"
            )
        out += "</table>\n"
    out += _ceiling_html(data.extra.get("parallel_ceiling"))
    if data.extra.get("interrupted"):
        out += (
            "<p><strong>The run was interrupted: these are the rows that finished.</strong></p>\n"
        )
    return out


def _pct(value: Any) -> str:
    return f"{value:+.2f} %" if isinstance(value, int | float) else "none"


def _pct_ci(ci: Any) -> str:
    return f"{ci[0]:+.2f} to {ci[1]:+.2f} %" if isinstance(ci, list | tuple) and ci else "none"


def _ceiling_html(ceilings: Any) -> str:
    """The parallel ceiling lines of the run (``ceiling.ceiling_line``); a file that says
    something else there (hand-edited, older) shows nothing rather than failing the report."""
    if not isinstance(ceilings, dict):
        return ""
    lines = []
    for workload, c in ceilings.items():
        try:
            lines.append(ceiling_line(str(workload), c))
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            continue
    return "".join(f"<p>{_e(line)}</p>\n" for line in lines)


def _chart_html(path: Path) -> str:
    stem = path.stem
    key = "timeline" if stem.startswith("timeline_") else stem
    heading, text = CHART_TEXT.get(key, (stem, ""))
    if key == "timeline":
        heading = f"{heading}: {stem.removeprefix('timeline_')}"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="{_e(stem)}">\n<h3>{_e(heading)}</h3>\n'
        f'<img src="data:image/png;base64,{data}" alt="{_e(heading)}" />\n'
        f"<figcaption>{_e(text)}</figcaption>\n</figure>\n"
    )


def render_report(doc: Any, charts: list[Path], notes: list[str], title: str) -> str:
    """The report's HTML text from a results document and already-drawn PNG charts."""
    data = prepare(doc)
    summary = summarize_rows(data.all_rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8" />',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}" />',
        '<meta name="viewport" content="width=device-width, initial-scale=1" />',
        '<link rel="icon" href="data:," />',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
    ]
    env = data.env
    parts.append(
        f'<p class="caption">Python {_e(env.get("python", "?"))}, OpenCV '
        f"{_e(env.get('opencv', '?'))}, {_e(env.get('cpu_model', '?'))}, kernel "
        f"{_e(env.get('kernel', '?'))}; generated {_e(dt.datetime.now().isoformat('T', 'seconds'))}"
        f" from {_e(data.extra.get('source') or 'results')}.</p>"
    )
    parts.append(
        '<p class="caption"><a href="#environment">Environment</a> · '
        '<a href="#tables">Summary tables</a> · <a href="#charts">Charts</a> · '
        f'<a href="#notes">Notes ({len(notes)})</a></p>'
    )
    lines = findings(data.all_rows)
    if lines:
        parts.append('<h2 id="findings">Findings</h2>')
        parts.append('<p class="caption">Claims only where 95 % CIs separate.</p><ul>')
        parts += [f"<li>{_e(line)}</li>" for line in lines]
        parts.append("</ul>")
    parts.append('<h2 id="environment">Environment</h2>')
    parts.append(_env_html(data))
    parts.append('<h2 id="tables">Summary</h2>')
    if summary:
        for make in (
            tables.throughput_table,
            tables.switches_table,
            tables.latency_table,
            tables.responsiveness_table,
        ):
            parts.append(rich_table_html(make(summary)))
        prediction_table = getattr(tables, "prediction_table", None)
        table = prediction_table(data.all_rows + data.predicted) if prediction_table else None
        if table is not None:
            parts.append(rich_table_html(table))
    else:
        parts.append("<p>No rows to summarise.</p>")
    parts.append('<h2 id="charts">Charts</h2>')
    if charts:
        from cvbench.report.charts import model_colour

        models = data.models()
        legend = " ".join(
            f'<span><span class="swatch" style="background:{model_colour(m)}"></span>{_e(m)}</span>'
            for m in models
        )
        parts.append(f'<p class="caption">Model colours (the same in every chart): {legend}</p>')
    parts += [_chart_html(p) for p in charts] or ["<p>No charts (see the notes).</p>"]
    parts.append('<h2 id="notes">Notes: what was skipped</h2>')
    if notes:
        parts.append(
            '<ul class="notes">\n' + "\n".join(f"<li>{_e(n)}</li>" for n in notes) + "\n</ul>"
        )
    else:
        parts.append("<p>Nothing was skipped.</p>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(
    results_path: str | Path, out_html: str | Path, history: Any = None
) -> tuple[Path, list[str]]:
    """Read a results JSON/CSV, draw every chart and write one offline HTML file; given a
    ``history`` of several result files (the newest is the report's), add their trend chart.

    Returns the path written and the notes on what was skipped; ResultsError (a ValueError)
    for an unreadable file, PlotError when matplotlib is missing.
    """
    doc = load_results(results_path)
    data = prepare(doc)
    out = Path(out_html)
    with tempfile.TemporaryDirectory(prefix="cvbench-report-") as tmp:
        paths, notes = make_plots(data, tmp)
        if history is not None and len(history.files) > 1:
            from cvbench.report.charts.trend import plot_trend

            trend, trend_notes = plot_trend(history, Path(tmp) / "trend")
            paths += trend
            notes += trend_notes
        pngs = [p for p in paths if p.suffix == ".png"]
        title = f"cvbench report: {Path(results_path).name}"
        if history is not None and len(history.files) > 1:
            title += f" (the newest of {len(history.files)} files)"
        text = render_report(data, pngs, notes, title)
    atomic_write(out, text)
    return out, notes
