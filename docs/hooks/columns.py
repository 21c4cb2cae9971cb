"""MkDocs hook: the column reference is generated from the schema's own descriptions, never copied by hand.

`on_page_markdown` replaces the `<!-- columns -->` line of docs/reference/columns.md with `columns_table()`,
which the tests call too.
"""

from __future__ import annotations

MARKER = "<!-- columns -->"
PAGE = "reference/columns.md"


def columns_table() -> str:
    """A Markdown table of every column of the results schema: name, pandas dtype, source (where results/rows.py
    takes its value from), description."""
    from benchsuite.results.schema import SCHEMA

    lines = ["| column | type | source | description |", "| --- | --- | --- | --- |"]
    lines += [f"| `{column.name}` | {column.dtype} | {column.source} | {_cell(column.description)} |"
              for column in SCHEMA]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    if markdown.count(MARKER) != 1:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{PAGE} must hold the line {MARKER} exactly once: the column table replaces it")
    return markdown.replace(MARKER, columns_table())
