import numpy as np
import pytest
import torch
from torch import nn

from ace.dormancy import (
    clear_optimizer_state_,
    gradient_dormancy,
    paper_perturb_factor,
    perturb_factor,
    soft_reset_,
)


def net_with_grads(rows1, rows2):
    net = nn.Sequential(nn.Linear(2, len(rows1)), nn.ReLU(), nn.Linear(len(rows1), len(rows2)))
    net[0].weight.grad = torch.tensor(rows1, dtype=torch.float32)
    net[2].weight.grad = torch.tensor(rows2, dtype=torch.float32)
    return net


def test_dormancy_on_hand_made_gradients():
    # Layer 1 row norms 5, 5, 0.1, 0 -> mean 2.525; tau 0.05 -> threshold 0.126: rows 3 and 4 dormant.
    # Layer 2 row norms 1, 1 -> nothing dormant.
    net = net_with_grads([[3, 4], [0, 5], [0.1, 0], [0, 0]], [[1, 0, 0, 0], [0, 1, 0, 0]])
    ratio, per_layer = gradient_dormancy(net, tau=0.05)
    assert per_layer == {"0": 0.5, "2": 0.0}
    assert ratio == pytest.approx(2 / 6)
    # A threshold above 1 marks every row at or below the mean as dormant.
    ratio_hi, _ = gradient_dormancy(net, tau=1.0)
    assert ratio_hi == pytest.approx(4 / 6)


def test_dormancy_needs_gradients():
    with pytest.raises(RuntimeError, match="no linear layer"):
        gradient_dormancy(nn.Linear(2, 2), 0.05)


def test_perturb_factor_clips_like_the_official_code():
    assert perturb_factor(0.0, 0.2, 0.9) == 0.9   # always some reset
    assert perturb_factor(0.3, 0.2, 0.9) == pytest.approx(0.7)
    assert perturb_factor(0.95, 0.2, 0.9) == 0.2
    assert paper_perturb_factor(0.0, 0.8) == 1.0   # paper: nothing dormant, no reset
    assert paper_perturb_factor(0.95, 0.8) == pytest.approx(0.2)


def test_soft_reset_interpolates_toward_a_fresh_orthogonal_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
    before = [p.detach().clone() for p in net.parameters()]
    torch.manual_seed(1)
    soft_reset_(net, 0.0)                 # all fresh
    fresh = [p.detach().clone() for p in net.parameters()]
    w = fresh[0]
    np.testing.assert_allclose((w @ w.T).numpy(), np.eye(4), atol=1e-5)  # orthogonal rows
    assert torch.count_nonzero(fresh[1]) == 0                            # zero biases

    for p, b in zip(net.parameters(), before, strict=True):
        p.data.copy_(b)
    torch.manual_seed(1)
    soft_reset_(net, 0.7)
    for p, b, f in zip(net.parameters(), before, fresh, strict=True):
        torch.testing.assert_close(p.detach(), 0.7 * b + 0.3 * f)


def test_soft_reset_factor_one_keeps_the_network_and_bad_factor_fails():
    net = nn.Linear(3, 3)
    before = net.weight.detach().clone()
    soft_reset_(net, 1.0)
    torch.testing.assert_close(net.weight.detach(), before)
    with pytest.raises(ValueError, match="factor"):
        soft_reset_(net, 1.5)


def test_clear_optimizer_state():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    assert opt.state[p]["step"] == 1
    clear_optimizer_state_(opt)
    assert len(opt.state) == 0
    opt.step()   # still usable, moments start afresh
    assert opt.state[p]["step"] == 1
