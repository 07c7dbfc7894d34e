import numpy as np
import pytest

from ace.buffer import RingBuffer, causal_window, replay_buffer

#: Storage on a torch device: the CPU here, and the GPU where there is one (make gpu-check).
TORCH_DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def test_wraps_around_and_keeps_chronological_order():
    buf = causal_window(4, obs_dim=2, action_dim=1)
    for i in range(6):
        buf.add(obs=[i, i], action=[i], reward=i)
    assert len(buf) == 4 and buf.full
    rows = buf.chronological()
    np.testing.assert_array_equal(rows["reward"][:, 0], [2, 3, 4, 5])
    np.testing.assert_array_equal(rows["obs"][:, 0], [2, 3, 4, 5])
    assert buf.data["reward"].dtype == np.float32


def test_partial_buffer_reads_only_written_rows():
    buf = causal_window(5, 1, 1)
    buf.add(obs=[1], action=[2], reward=3)
    assert not buf.full
    assert buf.chronological()["reward"].shape == (1, 1)


def test_sample_shapes_and_only_stored_rows():
    buf = replay_buffer(100, obs_dim=3, action_dim=2)
    for i in range(10):
        buf.add(obs=np.full(3, i), action=np.zeros(2), reward=i, next_obs=np.zeros(3), mask=1.0)
    batch = buf.sample(64, np.random.default_rng(0))
    assert batch["obs"].shape == (64, 3) and batch["reward"].shape == (64, 1)
    assert set(batch["reward"][:, 0]) <= set(range(10))
    np.testing.assert_array_equal(batch["obs"][:, 0], batch["reward"][:, 0])


def test_state_dict_roundtrip_after_wrap():
    buf = causal_window(3, 1, 1)
    for i in range(5):
        buf.add(obs=[i], action=[i], reward=i)
    other = causal_window(3, 1, 1)
    other.load_state_dict(buf.state_dict())
    np.testing.assert_array_equal(other.chronological()["reward"], buf.chronological()["reward"])
    assert other.pos == buf.pos


def test_rejects_bad_capacity_and_fields():
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(0, {"x": (1,)})
    buf = causal_window(3, 1, 1)
    with pytest.raises(KeyError):
        buf.add(obs=[0], action=[0])


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_device_storage_samples_tensors_and_checkpoints_as_numpy(device):
    import torch

    dev = replay_buffer(8, obs_dim=3, action_dim=2, device=torch.device(device))
    host = replay_buffer(8, obs_dim=3, action_dim=2)
    for i in range(11):  # wraps
        row = {"obs": np.full(3, i), "action": np.full(2, -i), "reward": float(i), "next_obs": np.full(3, i + 1),
               "mask": 1.0}
        dev.add(**row)
        host.add(**row)
    torch.manual_seed(0)
    batch = dev.sample(64, np.random.default_rng(0))
    assert all(torch.is_tensor(v) and v.dtype == torch.float32 and v.device.type == device for v in batch.values())
    assert batch["obs"].shape == (64, 3) and batch["reward"].shape == (64, 1)
    assert set(batch["reward"][:, 0].tolist()) <= {3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0}  # the 8 latest rows
    torch.testing.assert_close(batch["next_obs"][:, 0], batch["reward"][:, 0] + 1)  # rows stay whole
    state = dev.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state["data"].values())
    for k, v in host.state_dict()["data"].items():
        np.testing.assert_array_equal(state["data"][k], v)
    back = replay_buffer(8, obs_dim=3, action_dim=2, device=torch.device(device))
    back.load_state_dict(host.state_dict())
    for k, v in host.chronological().items():
        np.testing.assert_array_equal(back.chronological()[k], v)


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_device_storage_hands_out_copies(device):
    """Windows go to a background fit while training writes on: they must not alias the storage."""
    import torch

    for capacity, oldest_first in ((8, [0, 1, 2, 3, 4, 5]), (4, [2, 3, 4, 5])):  # not wrapped, wrapped
        buf = replay_buffer(capacity, obs_dim=1, action_dim=1, device=torch.device(device))
        for i in range(6):
            buf.add(obs=[i], action=[0], reward=0.0, next_obs=[0], mask=1.0)
        window, state = buf.chronological(), buf.state_dict()
        buf.data["obs"].fill_(-1.0)
        assert window["obs"][:, 0].tolist() == oldest_first
        assert sorted(state["data"]["obs"][:, 0].tolist()) == oldest_first
