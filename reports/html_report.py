"""Assembling the report: one self-contained HTML file and a Markdown twin.

The HTML has inline CSS, no scripts and no external resources: figures are PNG data URIs,
so the file opens offline in any browser. The Markdown carries the same text and tables and
links its figures as PNG files written next to it (``figures/``).

Content is written once through :class:`Doc`, which appends to both outputs, so the two
never drift apart.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from vfsynth.reports.figures._base import to_png_bytes

CSS = """
:root { --ok:#1b7837; --warn:#b35806; --fail:#b2182b; --ink:#222; --muted:#666; --line:#ddd; }
* { box-sizing: border-box; }
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 14px 22px 40px; background: #fff; overflow-wrap: break-word; }
h1 { font-size: 1.45em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.2em; border-bottom: 2px solid var(--line); padding-bottom: 3px; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
.sub { color: var(--muted); margin: 0 0 8px; font-size: 0.92em; }
nav { font-size: 0.88em; margin: 4px 0 8px; }
nav a { margin-right: 10px; color: #2166ac; text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.88em; width: 100%; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
table.wrap td { overflow-wrap: anywhere; }
th { background: #f2f2f2; }
td.num { text-align: right; white-space: nowrap; }
.box { border: 2px solid #2166ac; border-radius: 6px; padding: 8px 12px; margin: 8px 0 10px; background: #f5f9ff; }
.box h2 { border: 0; margin: 0 0 4px; font-size: 1.12em; }
.box table { background: #fff; margin: 4px 0 6px; }
.box p { margin: 4px 0; }
.callout { border-left: 5px solid var(--muted); padding: 6px 10px; margin: 8px 0; background: #f7f7f7; }
.callout.info { border-color: #2166ac; background: #eef4fb; }
.callout.warn { border-color: var(--warn); background: #fff4e5; }
.callout.fail { border-color: var(--fail); background: #fdecea; }
.callout.ok { border-color: var(--ok); background: #edf7ee; }
.callout b.t { display: block; margin-bottom: 2px; }
.callout ul { margin: 2px 0 2px 18px; padding: 0; }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: var(--muted); font-size: 0.86em; }
.big { font-size: 1.08em; font-weight: 600; }
.pb { color: var(--ok); font-weight: 700; }
code { background: #f2f2f2; padding: 0 3px; border-radius: 3px; }
footer { color: var(--muted); font-size: 0.82em; margin-top: 30px; }
"""

_CALLOUT_MD = {"info": "Note", "warn": "Warning", "fail": "FAILURE", "ok": "OK"}


def esc(text) -> str:
    """HTML-escape any value as element text (quotes kept readable)."""
    return html.escape(str(text), quote=False)


def attr(text) -> str:
    """HTML-escape any value for use inside a double-quoted attribute."""
    return html.escape(str(text), quote=True)


def md_text(text) -> str:
    """Plain text for the Markdown side: ``&``, ``<`` and ``>`` escaped, because Markdown
    converters pass raw HTML through (a study named ``<script>...`` would run)."""
    return html.escape(str(text), quote=False)


def md_cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    return md_text(text).replace("|", "\\|").replace("\n", " ")


@dataclass
class Doc:
    """A fragment of the report written to HTML and Markdown at once.

    ``figures`` maps a figure file name to its PNG bytes (for the Markdown side files).
    """

    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    figure_dir: str = "figures"

    def heading(self, text: str, level: int = 3, anchor: str | None = None) -> Doc:
        a = f' id="{attr(anchor)}"' if anchor else ""
        self.html.append(f"<h{level}{a}>{esc(text)}</h{level}>")
        self.md.append(f"{'#' * level} {md_text(text)}\n")
        return self

    def para(self, text: str, *, cls: str | None = None, html_text: str | None = None) -> Doc:
        """A paragraph of plain text (``html_text`` overrides the HTML rendering)."""
        c = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{c}>{html_text if html_text is not None else esc(text)}</p>")
        self.md.append(f"{md_text(text)}\n")
        return self

    def bullets(self, items: list[str]) -> Doc:
        self.html.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")
        self.md.append("\n".join(f"- {md_text(i)}" for i in items) + "\n")
        return self

    def table(self, header: list[str], rows: list[list], *, numeric: set[int] | None = None, wrap: bool = False) -> Doc:
        """A table; ``numeric`` column indices are right-aligned and unbroken, ``wrap`` lets
        long unbreakable text (URLs) wrap anywhere so the page never scrolls sideways."""
        numeric = numeric or set()
        h = "".join(f"<th>{esc(c)}</th>" for c in header)
        body = "".join(
            "<tr>" + "".join(f'<td{" class=num" if j in numeric else ""}>{esc(v)}</td>' for j, v in enumerate(r)) + "</tr>"
            for r in rows
        )
        cls = ' class="wrap"' if wrap else ""
        self.html.append(f"<table{cls}><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>")
        md = ["| " + " | ".join(md_cell(c) for c in header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(md_cell(v) for v in r) + " |" for r in rows]
        self.md.append("\n".join(md) + "\n")
        return self

    def figure(self, fig, name: str, caption: str) -> Doc:
        """Embed a matplotlib figure (closes it): data URI in HTML, PNG file for Markdown."""
        png = to_png_bytes(fig)
        import base64

        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        fname = f"{name}.png"
        self.figures[fname] = png
        self.html.append(f'<figure><img src="{uri}" alt="{attr(caption)}"><figcaption>{esc(caption)}</figcaption></figure>')
        cap = md_text(caption).replace("[", "\\[").replace("]", "\\]")
        self.md.append(f"![{cap}]({self.figure_dir}/{fname})\n\n*{cap}*\n")
        return self

    def callout(self, kind: str, title: str, items: list[str] | None = None, text: str | None = None) -> Doc:
        """A highlighted box: kind in {"info", "warn", "fail", "ok"}."""
        inner = f"<b class=t>{esc(title)}</b>"
        if text:
            inner += f"<span>{esc(text)}</span>"
        if items:
            inner += "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"
        self.html.append(f'<div class="callout {kind}">{inner}</div>')
        md = f"> **{_CALLOUT_MD.get(kind, kind)}: {md_text(title)}**"
        if text:
            md += f" {md_text(text)}"
        if items:
            md += "\n>\n" + "\n".join(f"> - {md_text(i)}" for i in items)
        self.md.append(md + "\n")
        return self

    def extend(self, other: Doc) -> Doc:
        self.html += other.html
        self.md += other.md
        self.figures.update(other.figures)
        return self


@dataclass
class Section:
    """A top-level report section."""

    anchor: str
    title: str
    doc: Doc
    status: str = "ok"  # "ok" | "warn" | "fail" | "hook"


def render_html(title: str, subtitle: str, key_findings: Doc, sections: list[Section], footer: str) -> str:
    """The complete self-contained HTML page (no scripts, no external resources)."""
    nav = "".join(f'<a href="#{attr(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        body.append(f'<section id="{attr(s.anchor)}"><h2>{esc(s.title)}</h2>{"".join(s.doc.html)}</section>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{esc(title)}</h1><p class=sub>{esc(subtitle)}</p>"
        f'<div class="box" id="key-findings">{"".join(key_findings.html)}</div>'
        f"<nav>{nav}</nav>{''.join(body)}<footer>{esc(footer)}</footer></main></body></html>\n"
    )


def render_markdown(title: str, subtitle: str, key_findings: Doc, sections: list[Section], footer: str) -> str:
    """The Markdown twin of :func:`render_html` (figures linked as files)."""
    out = [f"# {title}\n", f"*{subtitle}*\n"]
    out += key_findings.md
    for s in sections:
        out.append(f"## {s.title}\n")
        out += s.doc.md
    out.append(f"---\n{footer}\n")
    return "\n".join(out)


def all_figures(key_findings: Doc, sections: list[Section]) -> dict[str, bytes]:
    """Every figure's PNG bytes by file name."""
    figs = dict(key_findings.figures)
    for s in sections:
        figs.update(s.doc.figures)
    return figs
