"""An exclusive lock file that works on local and network file systems (NFS, Lustre, GPFS, BeeGFS).

Why not a library: kernel locks (``flock``/``fcntl``, portalocker) lock one node only or fail on
some cluster mounts (NFS ``nolock``, Lustre ``localflock``) and carry no owner record; filelock's
soft locks take a dead holder's lock over with ``renameat2(RENAME_EXCHANGE)``, which NFS and FUSE
reject, so there a stale lock is never taken over (tried with filelock 4.3.1 on a FUSE mount: a
killed holder's lock still blocked after ten times its lease); flufl.lock breaks a lock only once
its lifetime has expired, even when its holder is known dead on the same host.

The protocol uses only what every NFS version makes atomic: the holder writes its record to a file
of its own and ``link(2)``s it to the lock's name (which fails if the name exists), then refreshes
the lock's mtime from a thread (the heartbeat). A lock is stale when its holder is known to be
gone: on the holder's own host (same boot, same PID namespace) when its process has exited; from
anywhere else when the heartbeat is older than ``stale_after_s``. A stale lock is removed under a
short-lived guard file after checking, under the guard, that it is still the same lock, so two
contenders never both take it over.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ace")

#: Seconds between heartbeats, and the heartbeat age after which a holder on another host counts as
#: dead. The margin covers NFS attribute caching (up to 60 s) and clock differences between hosts.
HEARTBEAT_S = 30.0
STALE_AFTER_S = 180.0
#: A takeover guard is held for milliseconds; one this old was left by a contender that died.
GUARD_STALE_S = 60.0


class LockHeld(Exception):
    """The lock belongs to a process that may still be running."""

    def __init__(self, holder: LockHolder):
        super().__init__(holder.describe())
        self.holder = holder


@dataclass(frozen=True)
class _Identity:
    host: str
    boot_id: str | None
    pid_ns: int | None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _identity() -> _Identity:
    try:
        pid_ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pid_ns = None
    return _Identity(socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), pid_ns)


def _process_start(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc, or None where there is no /proc."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
    return fields[0], int(fields[19])


def _process_alive(pid: int, start: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    stat = _process_start(pid)
    if stat is None:
        return True
    state, started = stat
    # A zombie has exited; a different start time means the PID was reused.
    return state not in ("Z", "X") and (start is None or started == start)


@dataclass(frozen=True)
class LockHolder:
    """A lock's record, as its holder wrote it, with the lock file's identity and heartbeat."""

    token: str
    pid: int
    host: str
    since: float
    heartbeat: float  # mtime of the lock file
    inode: int
    slurm_job_id: str | None = None
    boot_id: str | None = None
    pid_ns: int | None = None
    start: int | None = None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        job = f", SLURM job {self.slurm_job_id}" if self.slurm_job_id else ""
        return f"pid {self.pid} on host {self.host} since {when}{job}"

    def stale_reason(self, stale_after_s: float = STALE_AFTER_S) -> str | None:
        """Why the holder is known to be gone, or None while it may still be running."""
        me = _identity()
        if self.host == me.host:
            if self.boot_id and me.boot_id and self.boot_id != me.boot_id:
                return "its host has rebooted since"
            if self.pid_ns == me.pid_ns:  # PIDs mean the same here (None == None where there is no /proc)
                return None if _process_alive(self.pid, self.start) else "its process is no longer running"
        age = time.time() - self.heartbeat
        return f"its heartbeat is {age:.0f} s old" if age > stale_after_s else None


def read_holder(path: Path) -> LockHolder | None:
    """The record of the lock at ``path``, or None if there is no lock.

    The file is opened, so on NFS its attributes (the heartbeat) are fresh, not cached. A record
    that cannot be parsed (not written by this module) describes an unknown holder, which only the
    heartbeat rule can declare gone.
    """
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read(65536)
    except FileNotFoundError:
        return None
    try:
        rec = json.loads(raw)
        return LockHolder(token=str(rec["token"]), pid=int(rec["pid"]), host=str(rec["host"]),
                          since=float(rec["since"]), heartbeat=st.st_mtime, inode=st.st_ino,
                          slurm_job_id=rec.get("slurm_job_id"), boot_id=rec.get("boot_id"),
                          pid_ns=rec.get("pid_ns"), start=rec.get("start"))
    except (ValueError, KeyError, TypeError):
        return LockHolder(token=f"unreadable:{st.st_ino}", pid=-1, host="(unknown)", since=st.st_mtime,
                          heartbeat=st.st_mtime, inode=st.st_ino)


class FileLock:
    """One process's claim on ``path``: ``acquire``, then ``release`` (or let the process die)."""

    def __init__(self, path: Path, slurm_job_id: str | None = None, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S):
        if not 0 < heartbeat_s < stale_after_s:
            raise ValueError(f"heartbeat_s={heartbeat_s} must be positive and below stale_after_s={stale_after_s}")
        self.path = Path(path)
        self.slurm_job_id = slurm_job_id
        self.heartbeat_s, self.stale_after_s = heartbeat_s, stale_after_s
        self.token: str | None = None
        self.lost: str | None = None  # why the lock stopped being ours while we held it
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self, wait_s: float = 0.0, poll_s: float = 1.0) -> tuple[LockHolder, str] | None:
        """Take the lock, waiting up to ``wait_s`` for a live holder to release it or go stale.

        Returns the stale holder taken over and why it was stale, or None. Raises ``LockHeld`` if a
        live holder keeps it, ``OSError`` if the folder cannot be written.
        """
        if self.token is not None:
            raise RuntimeError(f"{self.path} is already held by this lock object")
        token = secrets.token_hex(16)
        me = _identity()
        stat = _process_start(os.getpid())
        record = {"token": token, "pid": os.getpid(), "host": me.host, "since": time.time(),
                  "slurm_job_id": self.slurm_job_id, "boot_id": me.boot_id, "pid_ns": me.pid_ns,
                  "start": stat[1] if stat else None, "heartbeat_s": self.heartbeat_s}
        claim = self.path.with_name(f"{self.path.name}.{token}.claim")
        fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        deadline = time.monotonic() + wait_s
        taken_over = None
        try:
            while not self._link(claim):
                holder = read_holder(self.path)
                if holder is None:
                    continue  # released between our link and the read: try again at once
                reason = holder.stale_reason(self.stale_after_s)
                if reason is not None:
                    if self._remove_stale(holder):
                        taken_over = (holder, reason)
                        continue
                    # Another contender is taking it over right now; the winner is decided in ms.
                    deadline = max(deadline, time.monotonic() + 2.0)
                if time.monotonic() >= deadline:
                    raise LockHeld(holder)
                time.sleep(min(poll_s if reason is None else 0.05, max(0.0, deadline - time.monotonic())))
        finally:
            claim.unlink(missing_ok=True)
        self.token, self.lost = token, None
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="ace-lock-heartbeat", daemon=True)
        self._beat.start()
        return taken_over

    def _link(self, claim: Path) -> bool:
        try:
            os.link(claim, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            # NFS: the reply to a retransmitted LINK can be an error for a link that was made.
            try:
                if os.stat(claim).st_nlink == 2:
                    return True
            except OSError:
                pass
            raise OSError(e.errno, f"link(2) failed: {e.strerror} (the lock needs a file system with hard links)",
                          str(self.path)) from None

    def _remove_stale(self, holder: LockHolder) -> bool:
        guard = self.path.with_name(f"{self.path.name}.takeover")
        try:
            os.close(os.open(guard, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            try:
                if time.time() - guard.stat().st_mtime > GUARD_STALE_S:
                    guard.unlink()
            except FileNotFoundError:
                pass
            return False
        try:
            current = read_holder(self.path)
            if current is None or (current.inode, current.token) != (holder.inode, holder.token):
                return False  # replaced meanwhile: judge the new one on the next round
            if current.stale_reason(self.stale_after_s) is None:
                return False  # its heartbeat came back
            self.path.unlink()
            return True
        finally:
            guard.unlink(missing_ok=True)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                holder = read_holder(self.path)
            except OSError as e:
                log.warning("lock %s: could not read it for the heartbeat (%s); retrying", self.path, e)
                continue
            if holder is None or holder.token != self.token:
                self.lost = f"taken over by {holder.describe()}" if holder else "its lock file was removed"
                log.error("lock %s lost: %s", self.path, self.lost)
                return
            try:
                os.utime(self.path)
            except OSError as e:
                log.warning("lock %s: heartbeat failed (%s); retrying", self.path, e)

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still ours."""
        if self.token is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
        try:
            holder = read_holder(self.path)
            if holder is not None and holder.token == self.token:
                self.path.unlink()
        except OSError as e:
            log.warning("lock %s: could not remove it (%s); the next run takes it over as stale", self.path, e)
        self.token = None
