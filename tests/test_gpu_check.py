"""make gpu-check's CPU half: the wheel list is complete, the helper fetches it, the script plans,
refuses, budgets and reports.

Nothing is downloaded: the list is checked against this venv's metadata (same versions) and, at
the import level, by running the check's code with every package the GPU machine lacks made
unimportable; the helper runs real pip against a local folder of stand-in wheels.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.version import Version

from gpu_check import check, fetch
from gpu_check.budget import Log
from gpu_check.closure import installed_requires, unmet_requirements
from gpu_check.figures import bench_rows, junit_rows, run_rows
from gpu_check.manifest import BUILT_HERE, IMAGE_PACKAGES, LEFT_BEHIND, WHEELS, canonical

ALLOWED = set(WHEELS) | IMAGE_PACKAGES | {"ace-rl"}


# ----------------------------------------------------------------------------- the wheel list
def test_pins_are_the_versions_this_suite_runs_with():
    for name, version in WHEELS.items():
        assert metadata.version(name) == version, (
            f"this venv has {name} {metadata.version(name)}, gpu_check/manifest.py pins {version}: update the pin "
            "(and run make gpu-wheels)")


def test_every_project_dependency_is_carried_in_the_image_or_left_behind_for_a_reason():
    pins = {**WHEELS}
    for line in metadata.requires("ace-rl"):
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker):
            continue  # optional domains, tests, analysis
        name = canonical(req.name)
        assert name in WHEELS or name in IMAGE_PACKAGES or name in LEFT_BEHIND, name
        if name in pins:
            assert req.specifier.contains(Version(pins[name])), (name, str(req.specifier), pins[name])


def test_carried_wheels_need_nothing_the_gpu_machine_lacks():
    assert unmet_requirements(WHEELS, installed_requires) == []
    assert not set(WHEELS) & IMAGE_PACKAGES  # carry a package of the image only for another version


def test_closure_follows_markers_extras_and_known_versions():
    requires = {"a": ["b[x]", "c>=2", "d; python_version < '3.9'", "e; sys_platform == 'win32'", "f; extra == 'y'"],
                "b": ["g; extra == 'x'", "h"], "c": []}
    image = frozenset({"b", "g", "numpy"})
    assert unmet_requirements({"a": "1", "c": "2"}, requires.get, image, {}) == []  # b's own needs: the image's
    assert unmet_requirements({"a": "1", "c": "1"}, requires.get, image, {}) == [
        "a needs c>=2, but c there is 1"]
    assert unmet_requirements({"a": "1", "c": "2"}, requires.get, frozenset({"b"}), {}) == [
        "b needs g: neither carried nor in the GPU image"]
    assert unmet_requirements({"x": "1"}, {"x": ["numpy<2"]}.get, image, {"numpy": "2.5.2"}) == [
        "x needs numpy<2, but numpy there is 2.5.2"]
    assert unmet_requirements({"x": "1"}, {}.get, image, {}) == ["x: no metadata to read its requirements from"]


def blocked_modules() -> list[str]:
    """Import names of every package of this venv that the GPU machine lacks (neither carried nor in its image).

    A top-level name that an allowed package also provides (a namespace package) is blocked one level down.
    """
    roots: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        for f in dist.files or []:
            parts = f.parts
            if parts[0].startswith("..") or parts[0].endswith((".dist-info", ".egg-info", ".data")):
                continue
            if len(parts) == 1 and not f.name.endswith((".py", ".so")):
                continue
            top = parts[0].split(".")[0]
            roots.setdefault(top, set()).add(name)
            if len(parts) > 2:
                roots.setdefault(f"{top}.{parts[1].split('.')[0]}", set()).add(name)
    blocked = []
    for module, owners in roots.items():
        if "." in module or "__pycache__" in module:
            continue
        if not owners & ALLOWED:
            blocked.append(module)
        elif owners - ALLOWED:  # shared: block the sub-packages of the missing owners only
            blocked += [m for m, o in roots.items() if m.startswith(module + ".") and not o & ALLOWED]
    return sorted(blocked)


SITECUSTOMIZE = '''"""Written by tests/test_gpu_check.py: the packages the GPU machine lacks look absent here."""
import sys

BLOCKED = {blocked!r}


class HideMissing:
    """Wraps an import finder: a blocked module is not found (find_spec None), as on the GPU machine."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == b or fullname.startswith(b + ".") for b in BLOCKED):
            return None
        return self.finder.find_spec(fullname, path, target)

    def __getattr__(self, name):
        return getattr(self.finder, name)


def wrap(finder):
    kind = getattr(finder, "__name__", type(finder).__name__)
    return finder if kind in ("BuiltinImporter", "FrozenImporter") else HideMissing(finder)


sys.meta_path[:] = [wrap(f) for f in sys.meta_path]
'''


def with_overrides(overrides: tuple[str, ...], **changes: str) -> list[str]:
    """The check's run overrides with some values changed (key=value, by key)."""
    pairs = dict(o.split("=", 1) for o in overrides)
    return [f"{k}={v}" for k, v in {**pairs, **changes}.items()]


def test_the_check_imports_only_what_is_carried_or_in_the_gpu_image(tmp_path, monkeypatch):
    """The check's own commands, on this CPU, with everything else unimportable: CUDA tests collected,
    a smoke-size run with the check's settings, the bench's sections; their figures read back."""
    blocked = blocked_modules()
    assert {"lingam", "wandb", "dm_control", "submitit", "gymnasium_robotics", "imageio_ffmpeg"} <= set(blocked)
    assert not {"mujoco", "metaworld", "gymnasium", "hydra", "omegaconf", "torch", "sklearn"} & set(blocked)
    stand_in = tmp_path / "stand_in"
    stand_in.mkdir()
    (stand_in / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=blocked))
    monkeypatch.setenv("PYTHONPATH", str(stand_in))
    ctx = check.Context(out=tmp_path / "out", work=tmp_path / "work", wheels=tmp_path / "none")
    ctx.out.mkdir()
    ctx.work.mkdir()
    proof = subprocess.run([sys.executable, "-c", "import lingam"], env=ctx.env, capture_output=True, text=True)
    assert "No module named 'lingam'" in proof.stderr

    run = with_overrides(check.RUN_OVERRIDES, preset="smoke", device="cpu", **{
        "agent.compile": "off", "train.total_steps": "800", "train.start_steps": "200", "log.every": "200"})
    parts = [
        check.Part("tests", 120, "collect", lambda c: [[*check.test_commands(c)[0], "--collect-only"]],
                   lambda c: junit_rows(c.work / "junit.xml")),
        check.Part("run", 120, "smoke", lambda c: [[c.python, "src/run.py", *run, f"hydra.run.dir={c.work / 'run'}"]],
                   lambda c: run_rows(c.work / "run" / "train.csv", steady_from=200)),
        check.Part("bench", 120, "tiny", lambda c: [[c.python, "benchmarks/speed.py", "--device", "cpu", "--only",
                                                     "causal", "--only", "update", "--vars", "5", "--samples", "300",
                                                     "--repeats", "1", "--sizes", "16x2x32", "--seconds", "0.05",
                                                     "--out", str(c.work / "speed.csv")]],
                   lambda c: bench_rows(c.work / "speed.csv")),
    ]
    log, results = Log(ctx.out / "gpu_check.log", echo=open(os.devnull, "w")), check.Results(ctx.out / "x.csv")
    outcomes = [check.run_part(p, p.budget_s, ctx, log, results) for p in parts]
    results.close()
    log.close()
    text = (ctx.out / "gpu_check.log").read_text()
    assert all(o.ok for o in outcomes), text[-4000:]
    with open(ctx.out / "x.csv", newline="") as f:
        rows = {(r["part"], r["metric"]): r["value"] for r in csv.DictReader(f)}
    assert float(rows[("run", "steps")]) == 800 and float(rows[("run", "projected_1000k_h")]) > 0
    assert float(rows[("bench", "ratio")]) > 0 and float(rows[("bench", "ours_s")]) > 0
    assert float(rows[("bench", "ratio_limit")]) > 0  # the update's products timed alone


# ----------------------------------------------------------------------------- the helper
def fake_wheel(folder: Path, name: str, version: str, tags: str, requires: list[str] | None = None) -> Path:
    """A minimal valid wheel whose metadata requires what ``requires`` says (default: what this venv's has)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-{tags}.whl"
    lines = [f"Requires-Dist: {r}" for r in (installed_requires(name) or [] if requires is None else requires)]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{dist}.dist-info/METADATA",
                   "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *lines]) + "\n")
        z.writestr(f"{dist}.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tags}\n")
        z.writestr(f"{dist}.dist-info/RECORD", "")
    return path


TAGS = {"mujoco": "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "glfw": "py2.py3-none-manylinux_2_28_x86_64"}


def test_helper_fetches_the_pins_for_the_gpu_machine_with_real_pip(tmp_path, monkeypatch, capsys):
    """pip's platform flags pick the CPython 3.12 manylinux wheel of the pinned version, whatever runs here."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # this machine's pip settings (extra indexes) stay out
    index = tmp_path / "index"
    index.mkdir()
    for name, version in WHEELS.items():
        fake_wheel(index, name, version, TAGS.get(name, "py3-none-any"))
    fake_wheel(index, "mujoco", WHEELS["mujoco"], "cp311-cp311-manylinux_2_17_x86_64")  # decoys
    fake_wheel(index, "mujoco", "99.0", TAGS["mujoco"])
    dest = tmp_path / "wheels"
    got = fetch.fetch(dest, find_links=index)
    assert sorted(got) == sorted(WHEELS)
    assert got["mujoco"].name == f"mujoco-{WHEELS['mujoco']}-{TAGS['mujoco']}.whl"
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in got.values())
    assert f"MB  in {len(WHEELS)} wheels" in capsys.readouterr().out


def test_helper_downloads_what_is_missing_builds_sdist_only_packages_and_prunes(tmp_path):
    calls = []

    def pip(cmd: list[str]) -> int:  # stands in for pip: "downloads" by writing stand-in wheels
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d" if "-d" in cmd else "-w") + 1])
        for pin in (a for a in cmd if "==" in a):
            name, version = pin.split("==")
            fake_wheel(dest, name, version, TAGS.get(name, "py3-none-any"))
        return 0

    dest = tmp_path / "wheels"
    dest.mkdir()
    stale = fake_wheel(dest, "mujoco", "3.2.0", TAGS["mujoco"])
    kept = fake_wheel(dest, "gymnasium", WHEELS["gymnasium"], "py3-none-any")
    (dest / "notes.txt").write_text("x")
    fetch.fetch(dest, run=pip)
    download, *builds = calls
    assert download[download.index("download") + 1:][:2] == ["--no-deps", "--only-binary=:all:"]
    assert download[download.index("--python-version") + 1] == "3.12"
    assert "manylinux2014_x86_64" in download and "manylinux_2_28_x86_64" in download
    pins = [a for a in download if "==" in a]
    assert "gymnasium==" + WHEELS["gymnasium"] not in pins  # already there
    assert not any(p.split("==")[0] in BUILT_HERE for p in pins)
    assert [b[b.index("wheel") + 1:][:1] for b in builds] == [["--no-deps"]] * len(BUILT_HERE)
    assert not stale.exists() and kept.exists() and not (dest / "notes.txt").exists()
    calls.clear()
    fetch.fetch(dest, run=pip)  # everything there: nothing to do
    assert calls == []
    with pytest.raises(fetch.FetchError, match=r"the wheels take 0\.0 MB, more than the 0 MB"):
        fetch.fetch(dest, run=pip, max_mb=1e-9)


def test_helper_refuses_a_built_wheel_that_is_not_pure_python(tmp_path):
    def pip(cmd: list[str]) -> int:
        dest = Path(cmd[cmd.index("-d" if "-d" in cmd else "-w") + 1])
        for name, version in (a.split("==") for a in cmd if "==" in a):
            fake_wheel(dest, name, version, "cp311-cp311-linux_x86_64" if name in BUILT_HERE else "py3-none-any")
        return 0

    with pytest.raises(fetch.FetchError, match="built for this machine, not as pure Python"):
        fetch.fetch(tmp_path, run=pip)


def test_helper_stops_with_one_line_when_pip_fails(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "gpu_check" / "fetch.py"), "--dest", str(tmp_path / "w"),
                           "--find-links", str(empty)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    assert proc.returncode == 2
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: pip could not download") and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- the script
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_without_cuda_the_check_stops_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "gpu_check" / "check.py"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gpu-check: CUDA is not available to torch {torch.__version__} here: this check runs on a CUDA GPU "
        "(see README, 'GPU check')"]
    assert not (tmp_path / "out").exists()


def test_missing_wheels_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(check, "probe_machine", lambda python: {"cuda_available": True})
    fake_wheel(tmp_path, "mujoco", "3.2.0", TAGS["mujoco"])  # another version counts as missing
    with pytest.raises(check.CheckError, match=rf"{len(WHEELS)} wheel\(s\) missing .*mujoco==.*make gpu-wheels"):
        check.preflight(check.Context(out=tmp_path, work=tmp_path, wheels=tmp_path))


def test_the_check_writes_its_csv_and_log_and_stops_when_the_wheels_do_not_install(tmp_path, monkeypatch):
    monkeypatch.setattr(check, "probe_machine", lambda python: {"cuda_available": True, "gpu": "stand-in"})
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name, version in WHEELS.items():
        (wheels / f"{name.replace('-', '_')}-{version}-{TAGS.get(name, 'py3-none-any')}.whl").write_text("torn")
    out = tmp_path / "out"
    assert check.main(["--out", str(out), "--wheels", str(wheels)]) == 1
    csv_text = (out / "gpu_check.csv").read_text()
    assert "machine,machine,gpu,stand-in" in csv_text and "install,part,status,failed (exit 1)" in csv_text
    assert "tests,part" not in csv_text
    assert "nothing else can run" in (out / "gpu_check.log").read_text()


def test_dry_run_shows_the_plan_within_seven_minutes(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "gpu_check" / "check.py"), "--dry-run", "--wheels",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\((\d+) s of budgets; the check stops at 420 s\)", proc.stdout)
    for part in ("install", "tests", "run", "bench"):
        assert re.search(rf"^  {part} +\d+ s", proc.stdout, re.M), part
    assert "agent.compile=reduce-overhead" in proc.stdout and "pytest -m cuda" in proc.stdout
    assert f"wheels: 0 of {len(WHEELS)}" in proc.stdout and "make gpu-wheels" in proc.stdout


def test_budgets_fit_seven_minutes_and_the_last_parts_give_way():
    parts = list(check.PARTS)
    own = [p.budget_s for p in parts]
    assert sum(own) <= check.TOTAL_BUDGET_S - 10  # room for the machine probe
    assert check.budgets(parts, 5) == own
    slack = check.TOTAL_BUDGET_S - sum(own)
    assert check.budgets(parts, slack + 30) == [*own[:-1], own[-1] - 30]
    assert check.budgets(parts, 10_000) == [0.0] * len(parts)


def test_every_test_file_with_cuda_tests_is_run_by_the_check():
    marked = {f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py")
              if re.search(r"\bpytest\.mark\.cuda\b", p.read_text())}
    assert marked == set(check.CUDA_TEST_FILES)


SLEEPER = """import pathlib, signal, sys, time
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
print("working", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    pathlib.Path(sys.argv[1]).write_text("rows so far")
    sys.exit(130)
"""


@pytest.mark.parametrize("on_interrupt", ["stop", "ignore"])
def test_a_part_that_overruns_is_stopped_and_its_results_kept(tmp_path, on_interrupt):
    ctx = check.Context(out=tmp_path, work=tmp_path, wheels=tmp_path)
    part = check.Part("slow", 3, "sleeps", lambda c: [[c.python, "-c", SLEEPER, str(c.work / "rows"), on_interrupt]],
                      lambda c: [("rows", "text", (c.work / "rows").read_text())])
    log, results = Log(tmp_path / "log", echo=open(os.devnull, "w")), check.Results(tmp_path / "r.csv")
    outcome = check.run_part(part, 3, ctx, log, results)
    results.close()
    log.close()
    assert outcome.stopped and 2 <= outcome.seconds < 8
    csv_text = (tmp_path / "r.csv").read_text()
    assert "slow,part,status,stopped at its 3 s budget" in csv_text
    if on_interrupt == "stop":  # SIGINT first: the part wrote its results
        assert outcome.returncode == 130 and "slow,rows,text,rows so far" in csv_text
    else:  # then SIGKILL; reading its results fails, and says so
        assert outcome.returncode == -signal.SIGKILL and "slow,figures,error,FileNotFoundError" in csv_text
    assert "working" in (tmp_path / "log").read_text() and "interrupting" in (tmp_path / "log").read_text()


def test_run_figures_project_a_million_steps_from_the_steady_rows(tmp_path):
    header = "step,elapsed_s,updates,env_s,act_s,update_s,causal_s,eval_s,checkpoint_s"
    rows = [header]
    for step in range(1000, 20_001, 1000):  # 100 s to step 10k (compilation), then 4 ms a step
        elapsed = 100 * step / 10_000 if step <= 10_000 else 100 + (step - 10_000) * 0.004
        rows.append(f"{step},{elapsed},{step - 500},{step * 0.001},0,{elapsed / 2},0,0,0")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    figures = {metric: float(value) for _, metric, value in run_rows(tmp_path / "train.csv", steady_from=10_000)}
    assert figures["steps"] == 20_000 and figures["steady_from_step"] == 10_000
    assert figures["steady_steps_per_s"] == pytest.approx(250)
    assert figures["sim_steps_per_s"] == pytest.approx(1000)
    assert figures["updates_per_s"] == pytest.approx(10_000 / 20)  # 10k updates in half of 40 s
    assert figures["projected_1000k_s"] == pytest.approx(140 + 980_000 * 0.004)
    assert figures["projected_1000k_h"] == pytest.approx((140 + 980_000 * 0.004) / 3600, rel=1e-5)


def test_junit_figures_from_a_real_pytest_report(tmp_path):
    (tmp_path / "test_x.py").write_text("import pytest\ndef test_a(): pass\ndef test_b(): assert 1 == 2, 'nope'\n"
                                        "@pytest.mark.skip(reason='why')\ndef test_c(): pass\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={tmp_path / 'j.xml'}",
                    str(tmp_path / "test_x.py")], cwd=tmp_path, capture_output=True, timeout=120)
    rows = junit_rows(tmp_path / "j.xml")
    assert ("all", "passed", "1") in rows and ("all", "failed", "1") in rows and ("all", "skipped", "1") in rows
    assert ("test_x::test_b", "outcome", "failed") in rows
    assert any(r[0] == "test_x::test_b" and r[1] == "message" and "nope" in r[2] for r in rows)
    assert junit_rows(tmp_path / "none.xml") == [("report", "missing", "none.xml")]


def test_probe_reports_this_machine():
    info = check.probe_machine(sys.executable)
    assert info["torch"] == torch.__version__ and info["cuda_available"] == torch.cuda.is_available()
    assert json.dumps(info)
