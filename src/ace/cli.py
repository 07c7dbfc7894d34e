"""Command-line sugar and checks applied before Hydra parses ``sys.argv``.

* ``key=a..b`` (inclusive integer range) becomes Hydra's ``key=range(a,b+1)`` (``a..a`` is ``a``).
* ``env=``, ``agent=`` and ``preset=`` choices are checked against ``conf/`` so that a misspelt
  task fails at once with close matches rather than Hydra's list of every file.
* A sweep without ``-m`` and a run folder that cannot be written fail with one line naming what
  the user typed, before Hydra reports them in its own terms (or with a traceback).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from ace.errors import BadInputError

RANGE = re.compile(r"^(?P<key>[+~]{0,2}[\w./@-]+)=(?P<a>-?\d+)\.\.(?P<b>-?\d+)$")
CHECKED_GROUPS = ("env", "agent", "preset")
MULTIRUN_FLAGS = ("-m", "--multirun")


class ChoiceError(BadInputError, ValueError):
    pass


def expand_ranges(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        m = RANGE.match(arg)
        if m:
            a, b = int(m["a"]), int(m["b"])
            if b < a:
                raise ChoiceError(f"empty range in {arg!r}: {b} < {a} (a..b is inclusive, a <= b)")
            arg = f"{m['key']}={a}" if a == b else f"{m['key']}=range({a},{b + 1})"
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


def _overrides(args: list[str]) -> list[str]:
    return [a for a in args if "=" in a and not a.startswith("-")]


def check_sweeps_have_multirun(typed: list[str], expanded: list[str]) -> None:
    """A sweep (``a..b``, ``a,b``, ``range(...)``) needs ``-m``; say so naming what was typed."""
    if any(flag in typed for flag in MULTIRUN_FLAGS):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for original, arg in zip(typed, expanded, strict=True):
        if "=" not in arg or arg.startswith("-"):
            continue
        if arg.startswith("+benchmark="):  # its tasks are a sweep in the benchmark's config
            raise ChoiceError(f"{original} is a sweep over the benchmark's tasks; add -m to launch it")
        try:
            (override,) = parser.parse_overrides([arg])
        except Exception:  # Hydra reports its own syntax errors
            continue
        if override.is_sweep_override():
            try:
                runs = f" of {len(list(override.sweep_iterator()))} runs"
            except Exception:
                runs = ""
            raise ChoiceError(f"{original} is a sweep{runs}; add -m to launch them (python src/run.py ... "
                              f"{original} -m)")


def output_folder(args: list[str], conf_dir: Path) -> Path | None:
    """The folder Hydra will create: the run folder, or with -m the sweep folder (None if unknown)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from ace.config import composer

    try:
        parsed = OverridesParser.create().parse_overrides(_overrides(args))
        fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
        with composer(conf_dir) as compose:
            cfg = compose(fixed, return_hydra_config=True)
            key = "sweep.dir" if any(flag in args for flag in MULTIRUN_FLAGS) else "run.dir"
            return Path(str(OmegaConf.select(cfg.hydra, key, throw_on_resolution_failure=True)))
    except Exception:  # composition errors are Hydra's to report, with its own messages
        return None


def preprocess(args: list[str], conf_dir: Path) -> list[str]:
    expanded = expand_ranges(args)
    check_choices(expanded, conf_dir)
    check_sweeps_have_multirun(args, expanded)
    return expanded


def check_output_folder(args: list[str], conf_dir: Path) -> None:
    """Refuse a run (or sweep) folder that cannot be written before Hydra tries and fails in it."""
    from ace.run_folder import check_writable

    folder = output_folder(args, conf_dir)
    if folder is not None:
        check_writable(folder)
