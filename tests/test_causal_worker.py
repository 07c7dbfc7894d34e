"""Causal weights computed in a background thread and applied at a fixed step."""

import threading

import numpy as np
import pytest
from conftest import compose_cfg

from ace.causal_worker import CausalWorker
from ace.config import ConfigError, validate


def fit_recording(threads):
    def fit(data):
        threads.append(threading.current_thread().name)
        return np.asarray(data["w"], dtype=float)
    return fit


def test_delay_zero_is_synchronous():
    threads = []
    w = CausalWorker(fit_recording(threads), delay=0)
    r = w.submit(300, {"w": [0.5, 1.5]})
    assert r is not None and r.window_step == r.apply_step == 300
    np.testing.assert_array_equal(r.weights, [0.5, 1.5])
    assert threads == [threading.current_thread().name] and not w.busy
    w.close()


def test_background_fit_is_applied_exactly_delay_steps_later():
    threads = []
    w = CausalWorker(fit_recording(threads), delay=50)
    assert w.submit(300, {"w": [2.0, 0.0]}) is None and w.busy
    assert [w.due(s) for s in range(300, 349)] == [None] * 49
    r = w.due(350)
    assert r.window_step == 300 and r.apply_step == 350 and r.compute_s >= 0 and r.wait_s >= 0
    np.testing.assert_array_equal(r.weights, [2.0, 0.0])
    assert threads and threads[0].startswith("ace-causal")  # not the training thread
    assert w.due(351) is None and not w.busy
    with pytest.raises(ValueError, match="delay"):
        CausalWorker(fit_recording([]), delay=-1)
    w.close()


def test_a_pending_fit_survives_a_checkpoint():
    w = CausalWorker(fit_recording([]), delay=50)
    w.submit(600, {"w": [1.0, 3.0]})
    state = w.state_dict()  # waits for the fit
    assert state["window_step"] == 600 and state["apply_step"] == 650
    resumed = CausalWorker(fit_recording([]), delay=50)
    resumed.load_state_dict(state)
    assert resumed.due(649) is None
    np.testing.assert_array_equal(resumed.due(650).weights, [1.0, 3.0])
    with pytest.raises(RuntimeError, match="still pending"):
        w.submit(700, {"w": [1.0, 1.0]})  # the original still holds its unapplied result
    assert CausalWorker(fit_recording([]), delay=50).state_dict() is None
    w.close()
    resumed.close()


@pytest.mark.parametrize(("override", "message"), [
    ("agent.causal.delay=400", "must be smaller than agent.causal.interval"),
    ("agent.causal.backend=causallearn", "choose one of: fast, lingam"),
    ("agent.causal.delay=-5", "non-negative"),
    ("agent.causal.device=tpu", "agent.causal.device='tpu' is not valid"),
])
def test_bad_causal_settings_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg("preset=smoke", "agent.causal.interval=300", override))


def test_causal_settings_do_not_matter_when_causal_entropy_is_off():
    validate(compose_cfg("preset=smoke", "agent=sac", "agent.causal.interval=30"))  # delay 50 > interval: fine


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_causal_device_cuda_without_cuda_fails_before_training():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        validate(compose_cfg("preset=smoke", "agent.causal.device=cuda"))
