"""Download here the wheels that `make gpu-check` carries to a GPU machine with no network.

    make gpu-wheels                                   # = python gpu_check/fetch.py, into gpu_check/wheels/
    python gpu_check/fetch.py --find-links DIR        # from a local folder or mirror instead of PyPI

The pins are ``manifest.WHEELS``: wheels for CPython 3.12 / manylinux x86-64, fetched with
``pip download --no-deps`` whatever this machine runs; a package with no wheel on PyPI
(``manifest.BUILT_HERE``) is built here with ``pip wheel --no-deps`` and must come out pure Python.
Other files in the folder are removed (two versions of one package stop the install there). It ends
with each wheel's size and the total, and refuses a set that is incomplete (``closure.py``) or too
big to travel with the checkout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpu_check.closure import installed_requires, unmet_requirements, wheel_requires  # noqa: E402
from gpu_check.manifest import BUILT_HERE, PLATFORMS, PYTHON_VERSION, WHEELS, pinned_wheels  # noqa: E402

WHEEL_DIR = ROOT / "gpu_check" / "wheels"
#: What travels with the checkout is limited (64 MiB with everything else); the issue allows about 50 MB.
MAX_TOTAL_MB = 50.0

Runner = Callable[[list[str]], int]


class FetchError(Exception):
    """A missing prerequisite or a wrong result: reported as one line."""


def pip(*args: str, find_links: Path | None = None) -> list[str]:
    index = ["--no-index", "--find-links", str(find_links)] if find_links else []
    return [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", *index]


def download_command(pins: Sequence[str], dest: Path, find_links: Path | None = None) -> list[str]:
    """Binary wheels for the GPU machine, not for this one; no dependencies (the pins list them all)."""
    platforms = [flag for p in PLATFORMS for flag in ("--platform", p)]
    return pip("download", "--no-deps", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
               "--implementation", "cp", *platforms, "-d", str(dest), *pins, find_links=find_links)


def build_command(pin: str, dest: Path, find_links: Path | None = None) -> list[str]:
    return pip("wheel", "--no-deps", "-w", str(dest), pin, find_links=find_links)


def fetch(dest: Path = WHEEL_DIR, find_links: Path | None = None, run: Runner = subprocess.call,
          max_mb: float = MAX_TOTAL_MB) -> dict[str, Path]:
    """Make ``dest`` hold exactly the pinned wheels; download or build only what is missing."""
    dest.mkdir(parents=True, exist_ok=True)
    keep = set(pinned_wheels(dest).values())
    for path in dest.iterdir():
        if path not in keep:
            print(f"removing {path.name} (not a pinned wheel)")
            path.unlink()
    have = pinned_wheels(dest)
    to_download = [f"{n}=={v}" for n, v in WHEELS.items() if n not in have and n not in BUILT_HERE]
    if to_download and run(download_command(to_download, dest, find_links)) != 0:
        raise FetchError(f"pip could not download {', '.join(to_download)} (see pip's message above)")
    for name in sorted(BUILT_HERE - set(have)):
        if run(build_command(f"{name}=={WHEELS[name]}", dest, find_links)) != 0:
            raise FetchError(f"pip could not build a wheel of {name}=={WHEELS[name]} (see pip's message above)")
    got = pinned_wheels(dest)
    missing = sorted(set(WHEELS) - set(got))
    if missing:
        raise FetchError(f"no wheel for {', '.join(f'{n}=={WHEELS[n]}' for n in missing)} in {dest}")
    for name in BUILT_HERE:
        if not got[name].name.endswith("-none-any.whl"):
            raise FetchError(f"{got[name].name} was built for this machine, not as pure Python: it cannot travel")
    from_wheels = wheel_requires(got.values())
    problems = unmet_requirements(WHEELS, lambda n: from_wheels[n] if n in from_wheels else installed_requires(n))
    if problems:
        raise FetchError("incomplete: " + "; ".join(problems))
    total = sum(p.stat().st_size for p in got.values()) / 1e6
    for _, path in sorted(got.items()):
        print(f"  {path.stat().st_size / 1e6:7.2f} MB  {path.name}")
    print(f"  {total:7.2f} MB  in {len(got)} wheels, {dest}")
    if total > max_mb:
        raise FetchError(f"the wheels take {total:.1f} MB, more than the {max_mb:.0f} MB that may travel")
    return got


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", type=Path, default=WHEEL_DIR, help="folder for the wheels (default: %(default)s)")
    p.add_argument("--find-links", type=Path, help="take the packages from this folder or mirror, not PyPI")
    args = p.parse_args(argv)
    try:
        fetch(args.dest, args.find_links)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
