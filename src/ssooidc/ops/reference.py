"""The environment reference of docs/deployment.md, generated from the options in config.py.

``python -m ssooidc.ops.reference docs/deployment.md`` rewrites the table between the markers;
a test compares the file with what this module makes from the options of the moment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ssooidc.config import DEFAULTS, Option, options

BEGIN = "<!-- environment table: made by `python -m ssooidc.ops.reference docs/deployment.md` -->"
END = "<!-- end of the environment table -->"
BOOLEAN = "`1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`"


def environment_table() -> str:
    """One row per option: its variable, its command-line flag, its default, its meaning."""
    rows = ["| variable | option | default | meaning |", "| --- | --- | --- | --- |"]
    for name, opt in options():
        rows.append(
            f"| `{opt.env}` | `{opt.flag}` | {_default(DEFAULTS.get(name), opt)} | {_meaning(opt)} |"
        )
    return "\n".join(rows) + "\n"


def _default(value: object, opt: Option) -> str:
    if value is None:
        return "unset"
    if opt.kind is bool:
        return "`1`" if value else "`0`"
    return f"`{value}`"


def _meaning(opt: Option) -> str:
    # Markdown: a | would end the cell, and <data-dir> would be taken for an HTML tag.
    text = opt.help.replace("|", "\\|").replace("<", "\\<").replace(">", "\\>")
    if opt.kind is bool:
        text += f"; {BOOLEAN}"
    elif opt.kind is int:
        text += "; an integer"
    if opt.choices:
        text += "; one of " + ", ".join(f"`{c}`" for c in opt.choices)
    return text


def with_table(document: str) -> str:
    """``document`` with the text between the markers replaced by the current table."""
    start = document.find(BEGIN)
    end = document.find(END)
    if start < 0 or end < start:
        raise ValueError("the environment table's markers are missing")
    head = document[: start + len(BEGIN)]
    return f"{head}\n\n{environment_table()}\n{document[end:]}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ssooidc.ops.reference FILE.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    path.write_text(with_table(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
