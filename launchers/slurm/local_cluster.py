"""A real one-node SLURM cluster on this machine, for tests and for trying the launcher.

    python launchers/slurm/local_cluster.py start /tmp/acecluster   # prints: export SLURM_CONF=...
    python launchers/slurm/local_cluster.py stop /tmp/acecluster

Needs Debian's ``slurm-wlm`` and ``munge`` (``install()`` runs apt-get when root) and root, since
slurmd runs jobs as their submitting user. Daemons are stopped by the process ids they wrote.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CONF_TEMPLATE = """\
ClusterName=acelocal
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ReturnToService=2
JobRequeue=1
KillWait=3
MpiDefault=none
NodeName={host} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
DAEMONS = ("slurmctld", "slurmd")


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why."""


def install() -> None:
    """Install slurm-wlm and munge with apt-get if they are missing."""
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterUnavailable("slurm-wlm/munge are not installed and apt-get as root is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(cmd)} failed: {proc.stderr[-500:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_munged(root: Path) -> None:
    if subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["munged", "--force"], check=True, capture_output=True)
    (root / "munged.started").touch()  # ours: stop() ends it
    for _ in range(50):
        if subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise ClusterUnavailable("munged did not start")


def start(root: Path, cpus: int | None = None) -> Path:
    """Start slurmctld and slurmd with a config under ``root``; returns the slurm.conf path."""
    install()
    if os.geteuid() != 0:
        raise ClusterUnavailable("a local SLURM node needs root (slurmd runs jobs as their user)")
    root = Path(root).resolve()
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    mem_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    conf = root / "slurm.conf"
    conf.write_text(CONF_TEMPLATE.format(host=socket.gethostname().split(".")[0], root=root,
                                         ctld_port=_free_port(), d_port=_free_port(),
                                         cpus=cpus or os.cpu_count(), mem_mb=mem_mb))
    _ensure_munged(root)
    for daemon in DAEMONS:
        subprocess.run([daemon, "-f", str(conf)], check=True, capture_output=True)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for _ in range(100):
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env).stdout
        if out.strip() in ("idle", "mix", "alloc"):
            return conf
        time.sleep(0.2)
    stop(root)
    raise ClusterUnavailable(f"the local SLURM node did not come up; see {root}/slurmctld.log")


def _kill(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM, wait for the process to go, SIGKILL if it has not."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text():
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _our_step_daemons(root: Path) -> list[int]:
    """slurmstepd processes of this cluster: they run with the cluster folder as working directory."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.joinpath("comm").read_text().strip() == "slurmstepd" and \
                    Path(os.readlink(proc / "cwd")).is_relative_to(root):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def stop(root: Path) -> None:
    """Cancel this cluster's jobs and stop the daemons it started, by their process ids."""
    root = Path(root).resolve()
    conf = root / "slurm.conf"
    if conf.exists():
        subprocess.run(["scancel", "--full", "--user", str(os.getuid())], capture_output=True,
                       env={**os.environ, "SLURM_CONF": str(conf)}, timeout=30)
    for daemon in reversed(DAEMONS):
        pid = _pid(root / f"{daemon}.pid")
        if pid is not None:
            _kill(pid)
    for pid in _our_step_daemons(root):
        _kill(pid, timeout_s=2.0)
    if (root / "munged.started").exists():
        pid = _pid(Path("/run/munge/munged.pid"))
        if pid is not None:
            _kill(pid)
        (root / "munged.started").unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "start":
        try:
            conf = start(Path(argv[1]))
        except ClusterUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"export SLURM_CONF={conf}")
    else:
        stop(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
