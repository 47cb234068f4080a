"""One self-contained `report.html` per run directory.

The report holds, in one file: what the run is (in words, from the resolved config),
its provenance (version, git commit, command, seed, dependencies), every PNG figure,
every CSV table (first rows), every Markdown file (converted), a list of the other
files with their sizes, and the full configuration.

It is self-contained on purpose: figures are inlined as base64 `data:` URIs, the style
is inline, there is no JavaScript and no link to any file or network resource. The
report can be mailed, attached to a ticket or archived alone and still shows
everything; a Content-Security-Policy forbids the browser from loading anything else.
"""

from __future__ import annotations

import base64
import html
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from sim.core import io

MAX_ROWS = 200
MAX_CSV_BYTES = 5 * 1024 * 1024
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d232a; max-width: 1100px; margin: 2rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #d0d7de; padding-bottom: .2rem;
  margin-top: 2.2rem; }
h3 { font-size: 1.08rem; margin-top: 1.6rem; }
h4, h5, h6 { font-size: 1rem; }
nav { background: #f5f7f9; border: 1px solid #d0d7de; border-radius: 6px;
  padding: .5rem 1rem; }
nav ul { margin: .2rem 0; padding-left: 1.2rem; }
nav > ul > li { font-weight: 600; }
nav li li { font-weight: normal; }
a { color: #0b5cad; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .88em; }
code { background: #f1f3f5; padding: 0 .2em; border-radius: 3px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .8rem; overflow-x: auto; }
.scroll { overflow-x: auto; margin: .5rem 0; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left;
  vertical-align: top; }
td.num { text-align: right; }
th { background: #e9eef3; text-align: center; }
tbody tr:nth-child(even) { background: #f6f8fa; }
table.kv th { text-align: left; white-space: nowrap; }
figure { margin: 1.5rem 0; break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #e1e4e8; }
figcaption { font-size: .85rem; color: #57606a; }
.note { color: #57606a; font-size: .85rem; font-style: italic; }
details summary { cursor: pointer; font-weight: 600; }
@media print { body { max-width: none; margin: 0; } nav { display: none; }
  .scroll { overflow: visible; } h2, h3 { break-after: avoid; } }
"""

_e = html.escape


# the table a reader wants first, and the figures to show first, per task
_HEADLINE = {
    "simulate": "summary.csv",
    "study": "study_table.csv",
    "calibrate": "calibration_fit.csv",
    "economics": "cea.csv",
    "trial": "operating_characteristics.csv",
}
_FIRST_FIGURES = ("km.png", "ce_plane.png", "ceac.png", "power_curve.png", "study_forest.png")


def render_report(out: Path, meta: dict, config_yaml: str, title: str | None = None) -> str:
    """The HTML text of the run's report.

    `out` is the run directory, `meta` the run.json dict (possibly without `status` and
    `outputs`), `config_yaml` the resolved config as written to config.yaml.
    """
    out = Path(out)
    try:
        # libyaml: the same values as yaml.safe_load (io.config_hash reads it so too), ~10x faster
        cfg = yaml.load(config_yaml, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError:
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    task = str(cfg.get("task") or meta.get("task") or "simulate")
    title = title or f"pml-sim {task}: {out.resolve().name}"

    files = sorted(
        (p for p in out.iterdir() if not p.name.startswith(".") and p.name != "report.html"),
        key=lambda p: p.name,
    )
    by_ext: dict[str, list[Path]] = {".png": [], ".csv": [], ".md": []}
    other: list[Path] = []
    for p in files:
        ext = p.suffix.lower()
        (by_ext[ext] if p.is_file() and ext in by_ext else other).append(p)
    by_ext[".png"].sort(key=lambda p: (p.name not in _FIRST_FIGURES, p.name))
    headline = [p for p in by_ext[".csv"] if p.name == _HEADLINE.get(task)]
    by_ext[".csv"] = [p for p in by_ext[".csv"] if p not in headline]
    ids = _Ids()
    figs = {p.name: ids.new("fig", p.name) for p in by_ext[".png"]}

    # (id, heading, body html, [(item id, item label)]) in page order
    sections: list[tuple[str, str, str, list[tuple[str, str]]]] = [
        ("about", "What this run is", f"<p>{_describe(cfg, task)}</p>", []),
    ]
    for p in headline:
        i = ids.new("tab", p.name)
        body = f'<section id="{i}"><h3>{_e(p.name)}</h3>{_csv(p, i)}</section>'
        sections.append(("results", "Main results", body, [(i, p.name)]))
    if figs:
        body = "".join(_figure(p, figs[p.name]) for p in by_ext[".png"])
        sections.append(("figures", "Figures", body, [(i, n) for n, i in figs.items()]))
    for key, heading, items, render in (
        ("tables", "Tables", by_ext[".csv"], _csv),
        ("documents", "Documents", by_ext[".md"], lambda p, _: _markdown(_read(p), figs)),
    ):
        if items:
            toc, body = [], ""
            for p in items:
                i = ids.new(key[:3], p.name)
                toc.append((i, p.name))
                body += f'<section id="{i}"><h3>{_e(p.name)}</h3>{render(p, i)}</section>'
            sections.append((key, heading, body, toc))
    sections.append(("provenance", "Provenance", _provenance(meta), []))
    if other:
        sections.append(("files", "Other files", _other_files(other), []))
    config = f"<details><summary>Full configuration</summary><pre>{_e(config_yaml)}</pre></details>"
    sections.append(("config", "Configuration", config, []))

    toc = "".join(
        f'<li><a href="#{sid}">{_e(head)}</a>'
        + (
            "<ul>" + "".join(f'<li><a href="#{i}">{_e(n)}</a></li>' for i, n in items) + "</ul>"
            if items
            else ""
        )
        + "</li>"
        for sid, head, _, items in sections
    )
    body = "".join(
        f'<section id="{sid}"><h2>{_e(head)}</h2>{html_}</section>'
        for sid, head, html_, _ in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # else browsers fetch /favicon.ico
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>"
        f"<h1>{_e(title)}</h1><nav><ul>{toc}</ul></nav>\n{body}\n</body></html>\n"
    )


def write_report(out: Path, meta: dict, config_yaml: str, title: str | None = None) -> Path:
    """Write out/report.html atomically and return its path."""
    return io.write_text(Path(out) / "report.html", render_report(out, meta, config_yaml, title))


# --- what the run is ---------------------------------------------------------------------


def _describe(cfg: dict, task: str) -> str:
    """One paragraph, built only from the config keys that are present."""

    def get(*keys: object) -> object:
        node: object = cfg
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        return node

    def b(x: object) -> str:
        return f"<strong>{_e(str(x))}</strong>"

    model = get("model", "name")
    article = "An" if task[:1].lower() in "aeiou" else "A"
    parts = [f"{article} {b(task)} run" + (f" of the {b(model)} model" if model else "") + "."]
    strategies = get("strategy")
    if isinstance(strategies, dict) and strategies:
        names = ", ".join(b(s) for s in strategies)
        parts.append(f"Strategies ({len(strategies)}): {names}.")
    cohort = get("cohort") if isinstance(get("cohort"), dict) else {}
    n = cohort.get("n", cohort.get(False))  # YAML 1.1 reads a bare `n:` key as False
    if n is not None:
        s = f"Cohort: {b(_num(n))} patients"
        if cohort.get("name"):
            s += f" ({_e(str(cohort['name']))})"
        mix = _mix(cohort.get("mix"))
        parts.append(s + (f", mix {mix}." if mix else "."))
    if get("horizon_days") is not None:
        parts.append(f"Horizon: {b(_num(get('horizon_days')))} days.")
    if get("seed") is not None:
        parts.append(f"Seed: {b(get('seed'))}.")
    if task == "economics":
        cur, wtp = get("economics", "currency"), get("economics", "wtp")
        draws = get("economics", "psa", "draws")
        if wtp is not None:
            unit = f" {_e(str(cur))}" if cur else ""
            parts.append(f"Willingness to pay: {b(_num(wtp))}{unit} per QALY.")
        elif cur:
            parts.append(f"Currency: {b(cur)}.")
        if draws is not None:
            parts.append(f"PSA draws: {b(draws)}.")
    elif task == "trial":
        exp, ctl = get("trial", "experimental"), get("trial", "control")
        if exp and ctl:
            parts.append(f"Trial: {b(exp)} versus {b(ctl)}.")
        designs = get("trial", "designs")
        if isinstance(designs, dict):  # the config maps design name -> design
            names = list(designs)
        elif isinstance(designs, list):
            names = [d["name"] for d in designs if isinstance(d, dict) and "name" in d]
        else:
            names = []
        if names:
            parts.append(f"Designs: {', '.join(b(x) for x in names)}.")
        sizes, trials = get("trial", "sizing", "n"), get("trial", "sizing", "trials")
        if isinstance(sizes, list) and sizes:
            s = f"Sizing grid: n = {_e(', '.join(_num(x) for x in sizes))}"
            parts.append(s + (f"; {b(trials)} simulated trials per cell." if trials else "."))
    elif task == "study":
        name, sn, reps = get("study", "name"), get("study", "study_n"), get("study", "replicates")
        bits = [f"virtual study {b(name)}"] if name else []
        bits += [f"{b(sn)} patients per study"] if sn is not None else []
        bits += [f"{b(reps)} replicates"] if reps is not None else []
        if bits:
            parts.append("Study: " + ", ".join(bits) + ".")
    elif task == "calibrate":
        params = get("calibration", "params")
        keys = [p["key"] for p in params or [] if isinstance(p, dict) and "key" in p]
        if keys:
            parts.append(
                "Fitted parameters: " + ", ".join(f"<code>{_e(k)}</code>" for k in keys) + "."
            )
    return " ".join(parts)


def _mix(mix: object) -> str:
    """Condition weights as percentages of their sum (the config gives relative weights)."""
    if not isinstance(mix, dict):
        return ""
    try:
        total = sum(float(v) for v in mix.values())
    except (TypeError, ValueError):
        return ""
    if total <= 0:
        return ""
    pct = [
        f"{_e(str(k))} {100 * float(v) / total:.1f}".removesuffix(".0") + "%"
        for k, v in mix.items()
    ]
    return ", ".join(pct)


# --- provenance --------------------------------------------------------------------------

_PROV_KEYS = (
    "package", "version", "git_commit", "git_dirty", "task", "seed", "command", "python",
    "platform", "wall_seconds", "config_hash", "dependencies", "status", "outputs",
)  # fmt: skip


def _provenance(meta: dict) -> str:
    git = str(meta.get("git_commit", "unknown"))
    dirty = meta.get("git_dirty")
    if dirty is not None:
        git += " (uncommitted changes)" if dirty else " (clean)"
    command = meta.get("command")
    rows: list[tuple[str, object]] = [
        ("package", f"{meta.get('package', 'pml-sim')} {meta.get('version', '')}".strip()),
        ("git commit", git),
        ("seed", meta.get("seed")),
        ("command", " ".join(map(str, command)) if isinstance(command, list) else command),
        ("python", meta.get("python")),
        ("platform", meta.get("platform")),
        ("report made (UTC)", datetime.now(UTC).isoformat(timespec="seconds")),
        ("wall seconds", meta.get("wall_seconds")),
        ("config hash", meta.get("config_hash")),
        ("status", meta.get("status")),
    ]
    deps = meta.get("dependencies")
    if isinstance(deps, dict) and deps:
        rows.append(("dependencies", ", ".join(f"{k} {v}" for k, v in deps.items())))
    # task-specific facts (n_patients, psa_draws, ...) that run.json records
    rows += [
        (k, ", ".join(map(str, v)) if isinstance(v, list) else v)
        for k, v in meta.items()
        if k not in _PROV_KEYS and not isinstance(v, dict)
    ]
    body = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(str(v))}</td></tr>" for k, v in rows if v is not None
    )
    return f'<table class="kv"><tbody>{body}</tbody></table>'


# --- files -------------------------------------------------------------------------------


def _figure(path: Path, fid: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="{fid}"><img src="data:image/png;base64,{data}" alt="{_e(path.name)}">'
        f"<figcaption>{_e(path.name)}</figcaption></figure>"
    )


def _fmt(x: float) -> str:
    """4 significant digits, but never fewer than the integer part; integral values as integers.

    72345.3 shows as 72345, not 72350: a rounded-off zero would look like a measured digit.
    """
    if not math.isfinite(x):
        return "" if math.isnan(x) else str(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if abs(x) >= 1e15 or abs(x) < 1e-4:
        return f"{x:.4g}"
    if abs(x) >= 1000:
        return str(round(x))
    r = float(f"{x:.4g}")
    text = f"{r:.{max(0, 3 - math.floor(math.log10(abs(r))))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _csv(path: Path, tid: str) -> str:
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        return f'<p class="note">{_e(path.name)} is {_size(size)}, too large to show here.</p>'
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        return f'<p class="note">{_e(path.name)} could not be read: {_e(str(err))}</p>'
    table = df.head(MAX_ROWS).to_html(
        index=False, escape=True, na_rep="", float_format=_fmt, border=0, classes="data"
    )
    # to_html marks no cell as numeric: right-align the numeric columns by position
    cols = [
        f"#{tid} td:nth-child({k + 1})"
        for k, c in enumerate(df.columns)
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    style = f"<style>{', '.join(cols)} {{ text-align: right; }}</style>" if cols else ""
    note = (
        f'<p class="note">first {MAX_ROWS} of {len(df)} rows; full table in {_e(path.name)}</p>'
        if len(df) > MAX_ROWS
        else ""
    )
    return f'{style}<div class="scroll">{table}</div>{note}'


def _other_files(paths: list[Path]) -> str:
    rows = ""
    for p in paths:
        # a Parquet dataset is a directory of parts: its size is theirs
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
        size = sum(f.stat().st_size for f in files)
        name = p.name + ("/" if p.is_dir() else "")
        rows += f"<tr><td>{_e(name)}</td><td>{_size(size)}</td></tr>"
    return f"<table><thead><tr><th>file</th><th>size</th></tr></thead><tbody>{rows}</tbody></table>"


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _num(x: object) -> str:
    """A config number for prose: 5000 -> 5,000, 365.0 -> 365."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,}"


class _Ids:
    """Unique, URL-safe element ids derived from file names."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def new(self, prefix: str, name: str) -> str:
        base = f"{prefix}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
        i, k = base, 1
        while i in self.used:
            k += 1
            i = f"{base}-{k}"
        self.used.add(i)
        return i


# --- a small Markdown converter ----------------------------------------------------------

_INLINE = re.compile(r"`([^`]+)`|!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_SEP_CELL = re.compile(r"\s*:?-{3,}:?\s*")
_NUMBER = re.compile(r"[-+]?[\d,.]*\d(e[-+]?\d+)?%?( \(.*\))?")  # 0.850 (0.036), 42.2%
_NUM_CLASS = ' class="num"'


def _inline(text: str, figs: dict[str, str]) -> str:
    """Escape, then `code`, **bold**; an image of a figure in this report links to it."""

    def plain(s: str) -> str:
        return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _e(s))

    res, pos = "", 0
    for m in _INLINE.finditer(text):
        res += plain(text[pos : m.start()])
        if m.group(1) is not None:
            res += f"<code>{_e(m.group(1))}</code>"
        elif Path(m.group(3)).name in figs:  # never a file link: point at the inlined figure
            fid = figs[Path(m.group(3)).name]
            res += f'<a href="#{fid}">figure {_e(m.group(2) or m.group(3))}</a>'
        else:
            res += _e(m.group(0))
        pos = m.end()
    return res + plain(text[pos:])


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _table(lines: list[str], figs: dict[str, str]) -> str:
    rows = [_cells(x) for x in lines]
    head: list[str] = []
    if len(rows) > 1 and all(_SEP_CELL.fullmatch(c) for c in rows[1]):
        head, rows = rows[0], rows[2:]
    thead = "".join(f"<th>{_inline(c, figs)}</th>" for c in head)
    # a column is right-aligned when all its cells are numbers ("-" or empty: missing)
    width = max((len(r) for r in rows), default=0)
    col = [[r[j] for r in rows if j < len(r) and r[j] not in ("", "-")] for j in range(width)]
    num = [bool(c) and all(_NUMBER.fullmatch(x) for x in c) for c in col]

    def td(j: int, c: str) -> str:
        return f"<td{_NUM_CLASS if num[j] else ''}>{_inline(c, figs)}</td>"

    tbody = "".join("<tr>" + "".join(td(j, c) for j, c in enumerate(r)) + "</tr>" for r in rows)
    thead = f"<thead><tr>{thead}</tr></thead>" if head else ""
    return f'<div class="scroll"><table>{thead}<tbody>{tbody}</tbody></table></div>'


def _markdown(text: str, figs: dict[str, str]) -> str:
    """Headings, paragraphs, bullet lists, pipe tables, `code` and **bold**; all escaped.

    Markdown headings sit below the file's own h3 heading (# -> h4).
    """
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para), figs)}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i, figs)}</li>" for i in items) + "</ul>")
            items.clear()
        if table:
            out.append(_table(table, figs))
            table.clear()

    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"(#{1,6})\s+(.*?)\s*#*$", line)
        bullet = re.match(r"[-*]\s+(.*)", line)
        if line.startswith("|"):
            if not table:
                flush()
            table.append(line)
        elif not line:
            flush()
        elif heading:
            flush()
            level = min(len(heading.group(1)) + 3, 6)
            out.append(f"<h{level}>{_inline(heading.group(2), figs)}</h{level}>")
        elif bullet:
            if not items:
                flush()
            items.append(bullet.group(1))
        elif items and raw[:1].isspace():  # continuation of a list item
            items[-1] += " " + line
        else:
            if not para:
                flush()
            para.append(line)
    flush()
    return "".join(out)
