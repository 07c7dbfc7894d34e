"""The run folder's lock (ace.file_lock): refusal naming the holder, heartbeat, takeover of dead holders."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from ace.file_lock import FileLock, LockHeld, read_holder

HOLD = """
import sys, time
sys.path.insert(0, {src!r})
from ace.file_lock import FileLock
lock = FileLock({path!r}, slurm_job_id={job!r}, heartbeat_s=0.2)
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[1]))
lock.release()
"""


def hold(path, seconds=60.0, job=None):
    """A process that takes the lock at ``path``, holds it ``seconds``, then releases it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(src=str(ROOT / "src"), path=str(path), job=job),
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    path = tmp_path / "run.lock"
    proc = hold(path, job="1234_5")
    try:
        with pytest.raises(LockHeld) as e:
            FileLock(path).acquire()
        msg = str(e.value)
        assert f"pid {proc.pid} on host {socket.gethostname()} since " in msg and msg.endswith("SLURM job 1234_5")
        first = read_holder(path).heartbeat
        time.sleep(0.5)
        assert read_holder(path).heartbeat > first  # the holder's heartbeat refreshes the lock
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_holders_lock_is_taken_over_and_a_live_one_never(tmp_path):
    path = tmp_path / "run.lock"
    proc = hold(path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.exists()  # kill -9 leaves the lock behind
    lock = FileLock(path)
    holder, reason = lock.acquire()
    assert holder.pid == proc.pid and reason == "its process is no longer running"
    assert read_holder(path).token == lock.token
    lock.release()
    assert not path.exists()


def test_a_lock_from_another_host_is_taken_over_once_its_heartbeat_is_old(tmp_path):
    path = tmp_path / "run.lock"
    record = {"token": "t", "pid": os.getpid(), "host": "node42", "since": time.time() - 3600, "slurm_job_id": "77"}
    path.write_text(json.dumps(record))
    with pytest.raises(LockHeld, match="on host node42 .*SLURM job 77"):  # fresh heartbeat: alive elsewhere
        FileLock(path, heartbeat_s=1.0, stale_after_s=5.0).acquire()
    os.utime(path, (time.time() - 10, time.time() - 10))
    lock = FileLock(path, heartbeat_s=1.0, stale_after_s=5.0)
    holder, reason = lock.acquire()
    assert holder.host == "node42" and reason.startswith("its heartbeat is 1") and reason.endswith(" s old")
    lock.release()


def test_a_holder_that_was_taken_over_notices(tmp_path):
    path = tmp_path / "run.lock"
    lock = FileLock(path, heartbeat_s=0.1)
    lock.acquire()
    path.unlink()  # what a contender does to a lock it judged stale
    FileLock(path).acquire()
    deadline = time.time() + 5
    while lock.lost is None and time.time() < deadline:
        time.sleep(0.05)
    assert lock.lost is not None and lock.lost.startswith(f"taken over by pid {os.getpid()}")
    lock.release()
    assert path.exists()  # the release leaves the new holder's lock alone
