"""Is the carried set complete? Every requirement of a carried wheel, followed transitively, must be
carried too or be in the GPU image, at a version the requirement accepts where the version is known.

Requirements come from wheel metadata (``Requires-Dist``): that of the downloaded wheels when they
are here (``fetch.py`` checks them), else that of the same versions installed in this venv (the test
suite, without downloading). Markers are evaluated for the GPU machine (``manifest.MARKER_ENV``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Mapping
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from gpu_check.manifest import IMAGE_PACKAGES, IMAGE_VERSIONS, MARKER_ENV, canonical, wheel_filename_parts

#: ``name -> its Requires-Dist lines``, or None when the metadata cannot be read here.
RequiresOf = Callable[[str], "list[str] | None"]


def installed_requires(name: str) -> list[str] | None:
    """Requirements of the distribution installed in this interpreter's environment."""
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return None


def wheel_requires(wheels: Iterable[Path]) -> dict[str, list[str]]:
    """``canonical name -> Requires-Dist`` read from each wheel's METADATA (nothing is installed)."""
    out = {}
    for path in wheels:
        name, _ = wheel_filename_parts(path.name)
        with zipfile.ZipFile(path) as z:
            (meta,) = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            headers = HeaderParser().parsestr(z.read(meta).decode("utf-8"))
        out[name] = headers.get_all("Requires-Dist") or []
    return out


def _applies(req: Requirement, extras: Iterable[str]) -> bool:
    """Whether ``req`` is needed on the GPU machine by a package installed with ``extras``."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**MARKER_ENV, "extra": e}) for e in ("", *extras))


def _only_for_extras(req: Requirement) -> bool:
    return req.marker is not None and not req.marker.evaluate({**MARKER_ENV, "extra": ""})


def unmet_requirements(carried: Mapping[str, str], requires_of: RequiresOf,
                       image: frozenset[str] = IMAGE_PACKAGES,
                       image_versions: Mapping[str, str] = IMAGE_VERSIONS) -> list[str]:
    """One line per problem; empty when every carried wheel has what it needs there.

    The image's own packages are taken as complete, except for extras a carried wheel asks of them
    (``etils[epath]``): those extras' requirements are followed like a carried wheel's.
    """
    carried = {canonical(k): v for k, v in carried.items()}
    versions = {**{canonical(k): v for k, v in image_versions.items()}, **carried}
    problems: list[str] = []
    todo = [(name, frozenset()) for name in sorted(carried)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        lines = requires_of(name)
        if lines is None:
            problems.append(f"{name}: no metadata to read its requirements from")
            continue
        for line in lines:
            req = Requirement(line)
            if not _applies(req, extras) or (name not in carried and not _only_for_extras(req)):
                continue
            dep = canonical(req.name)
            if dep not in carried and dep not in image:
                problems.append(f"{name} needs {line.split(';')[0].strip()}: neither carried nor in the GPU image")
                continue
            if dep in versions and not req.specifier.contains(Version(versions[dep]), prereleases=True):
                problems.append(f"{name} needs {req.name}{req.specifier}, but {dep} there is {versions[dep]}")
            if dep in carried or req.extras:
                todo.append((dep, frozenset(req.extras)))
    return problems
