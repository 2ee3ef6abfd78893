"""The one rule for text from the service on its way to a terminal: control characters made visible.

A trace message, a query cell or a deployment name is the service's text, and so anyone's: an ESC
sequence in it (`\\x1b[2J`, `\\x1b]0;title\\x07`) would clear or retitle the reader's terminal. Human
formats (pretty, short, raw, table) pass every such text through `visible`; JSON escapes them itself;
TSV writes them with `tsv_field`'s backslash escapes.
"""

from __future__ import annotations

import functools

# C0 controls, DEL and the C1 controls (U+0080–U+009F: a terminal reads U+009B as CSI).
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_TSV_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


@functools.cache
def _table(keep: str) -> dict[int, str]:
    return {code: f"\\x{code:02x}" for code in _CONTROLS if chr(code) not in keep}


def visible(text: str, keep: str = "") -> str:
    """`text` with each control character not in `keep` written as `\\xNN` (ESC → `\\x1b`); the
    characters in `keep` are those the format itself lays out (e.g. the line breaks pretty indents)."""
    return text.translate(_table(keep))


_TSV = {**_table(""), **{ord(k): v for k, v in _TSV_NAMED.items()}}


def tsv_field(text: str) -> str:
    """One TSV field: backslash, tab, CR and LF as `\\\\`, `\\t`, `\\r`, `\\n`, any other control
    character as `\\xNN`, so a field never spills into the next one, the next line or the terminal."""
    return text.translate(_TSV)


def tsv_line(fields: list[str]) -> str:
    return "\t".join(tsv_field(field) for field in fields)
