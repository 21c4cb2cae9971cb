"""Plugin-supplied strings made inert before they reach a Streamlit element that renders markdown."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """`text` with every markdown (and HTML) special character backslash-escaped, so that a method named
    ``<img src=x onerror=...>`` or ``[click](http://...)`` shows as those characters and nothing else."""
    return _MARKDOWN.sub(r"\\\1", str(text))
