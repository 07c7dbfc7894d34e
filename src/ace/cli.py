"""Command-line sugar applied before Hydra parses ``sys.argv``.

* ``key=a..b`` (inclusive integer range) becomes Hydra's ``key=range(a,b+1)``.
* ``env=``, ``agent=`` and ``preset=`` choices are checked against ``conf/`` so that a misspelt
  task fails at once with close matches rather than Hydra's list of every file.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

RANGE = re.compile(r"^(?P<key>[+~]{0,2}[\w./@-]+)=(?P<a>-?\d+)\.\.(?P<b>-?\d+)$")
CHECKED_GROUPS = ("env", "agent", "preset")


class ChoiceError(ValueError):
    pass


def expand_ranges(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        m = RANGE.match(arg)
        if m:
            a, b = int(m["a"]), int(m["b"])
            if b < a:
                raise ChoiceError(f"empty range in {arg!r}: {b} < {a} (a..b is inclusive, a <= b)")
            arg = f"{m['key']}=range({a},{b + 1})"
        out.append(arg)
    return out


def group_options(conf_dir: Path, group: str) -> list[str]:
    root = Path(conf_dir) / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def check_choices(args: list[str], conf_dir: Path) -> None:
    """Raise ``ChoiceError`` naming the bad value and the valid (or closest) choices."""
    for arg in args:
        key, sep, value = arg.partition("=")
        group = key.lstrip("+~")
        if not sep or group not in CHECKED_GROUPS or "(" in value or "*" in value:
            continue
        options = group_options(conf_dir, group)
        for choice in value.split(","):
            if choice in options:
                continue
            close = [o for o in options if o.split("/")[-1] == choice.split("/")[-1]]
            close += [o for o in difflib.get_close_matches(choice, options, n=5, cutoff=0.6) if o not in close]
            if close:
                hint = f"did you mean: {', '.join(close[:5])}?"
            elif len(options) <= 12:
                hint = f"valid choices: {', '.join(options)}"
            else:
                domains = sorted({o.split('/')[0] for o in options})
                hint = f"valid choices are <domain>/<task> with domain one of: {', '.join(domains)} (see conf/{group}/)"
            raise ChoiceError(f"unknown {group} {choice!r}; {hint}")


def preprocess(args: list[str], conf_dir: Path) -> list[str]:
    args = expand_ranges(args)
    check_choices(args, conf_dir)
    return args
