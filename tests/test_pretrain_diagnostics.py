"""Collapse diagnostics, Sinkhorn-Knopp centring and the BN rule (reidzoo.bn.reestimate_bn)."""
import copy
import math

import pytest
import torch
from torch import nn

from cion.pretrain.diagnostics import CollapseMonitor, mean_entropy, mean_pairwise_cosine, step_diagnostics, top_share
from cion.pretrain.loss import IdentityDistillationLoss, sinkhorn_knopp
from reidzoo.bn import reestimate_bn


@pytest.mark.parametrize("d", [2, 64, 4096])
def test_entropy_is_ln_d_for_uniform_and_zero_for_one_hot(d):
    assert mean_entropy(torch.full((5, d), 1.0 / d)) == pytest.approx(math.log(d), rel=1e-5)
    assert mean_entropy(torch.eye(d)[:5]) == pytest.approx(0.0, abs=1e-6)


def test_pairwise_cosine_matches_the_pairwise_loop():
    f = torch.randn(7, 5)
    n = torch.nn.functional.normalize(f, dim=1)
    brute = sum(float(n[i] @ n[j]) for i in range(7) for j in range(7) if i != j) / 42
    assert mean_pairwise_cosine(f) == pytest.approx(brute, abs=1e-6)
    assert mean_pairwise_cosine(torch.ones(4, 3)) == pytest.approx(1.0)
    assert mean_pairwise_cosine(torch.eye(4)) == pytest.approx(0.0, abs=1e-7)


def test_top_share_and_step_diagnostics():
    probs = torch.eye(8)[[1, 1, 1, 2]]
    assert top_share(probs) == 0.75
    d = step_diagnostics(5.0, torch.full((4, 8), 1 / 8), torch.randn(4, 3), torch.ones(1, 8))
    assert d["teacher_entropy_ratio"] == pytest.approx(1.0) and d["kl"] == pytest.approx(5.0 - math.log(8))
    assert d["center_norm"] == pytest.approx(math.sqrt(8))


def test_monitor_warns_once_after_patience_and_resets_on_recovery():
    mon = CollapseMonitor(patience=3)
    flat = {"teacher_entropy_ratio": 0.99, "feature_cosine": 0.5, "teacher_top_share": 0.1}
    healthy = {**flat, "teacher_entropy_ratio": 0.5}
    assert [mon.update(flat, i) for i in range(2)] == [None, None]
    assert mon.update(healthy, 2) is None                          # the run of flat steps starts over
    msgs = [mon.update(flat, i) for i in range(3, 9)]
    assert msgs[2] is not None and "uniform collapse" in msgs[2] and "sinkhorn" in msgs[2]
    assert sum(m is not None for m in msgs) == 1                   # once
    same = {"teacher_entropy_ratio": 0.5, "feature_cosine": 0.5, "teacher_top_share": 1.0}  # one target for all
    out = [mon.update(same, i) for i in range(3)]
    assert out[-1] is not None and "representation collapse" in out[-1]


def test_sinkhorn_rows_are_distributions_with_balanced_columns():
    torch.manual_seed(0)
    logits = torch.randn(64, 16) * 5
    q = sinkhorn_knopp(logits, iterations=3)
    assert torch.allclose(q.sum(1), torch.ones(64), atol=1e-5)
    cols = q.sum(0) / 64
    plain = torch.softmax(logits, -1).sum(0) / 64
    # each iteration pulls the prototypes' total mass towards 1/D, closer than a plain softmax
    assert (cols - 1 / 16).abs().max() < 0.8 * (plain - 1 / 16).abs().max()
    q50 = sinkhorn_knopp(logits, iterations=50)
    assert torch.allclose(q50.sum(0) / 64, torch.full((16,), 1 / 16), atol=1e-3)
    # nearly identical rows still get distinct, sharper-than-uniform targets
    near = torch.randn(1, 16) + 0.05 * torch.randn(64, 16)
    assert mean_entropy(sinkhorn_knopp(near / 0.04)) < 0.9 * math.log(16)


def test_loss_with_sinkhorn_centering_records_its_targets():
    torch.manual_seed(0)
    crit = IdentityDistillationLoss(32, 4, centering="sinkhorn")
    s, t = torch.randn(4 * 8, 32, requires_grad=True), torch.randn(2 * 8, 32)
    loss = crit(s, t, 4)
    loss.backward()
    assert torch.isfinite(loss) and s.grad is not None
    assert crit.last_teacher_probs.shape == (16, 32)
    assert torch.allclose(crit.last_teacher_probs.sum(1), torch.ones(16), atol=1e-5)
    with pytest.raises(ValueError, match="centering"):
        IdentityDistillationLoss(32, 4, centering="mean")


def _net():
    return nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.BatchNorm2d(4),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_bn_rule_statistics_are_the_batch_statistics_of_the_images():
    torch.manual_seed(0)
    net = _net()
    x = torch.randn(16, 3, 8, 6) * 3 + 1
    net[0].running_mean.fill_(7.0)
    reestimate_bn(net, x, batch_size=16)
    assert torch.allclose(net[0].running_mean, x.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(net[0].running_var, x.var((0, 2, 3), unbiased=True), atol=1e-4)
    assert net[0].momentum == 0.1 and not net.training and not net[2].training
    # several batches: the cumulative average of the batch means
    reestimate_bn(net, x, batch_size=8)
    assert torch.allclose(net[0].running_mean, (x[:8].mean((0, 2, 3)) + x[8:].mean((0, 2, 3))) / 2, atol=1e-5)


def test_bn_rule_erases_the_history_of_the_statistics():
    torch.manual_seed(0)
    a = _net()
    b = copy.deepcopy(a)
    b.train()
    with torch.no_grad():                                          # b's statistics drift on other images
        for _ in range(5):
            b(torch.randn(8, 3, 8, 6) * 5 - 2)
    x = torch.randn(32, 3, 8, 6)
    assert not torch.allclose(a.eval()(x), b.eval()(x))
    reestimate_bn(a, x)
    reestimate_bn(b, x)
    assert torch.equal(a(x), b(x))
    with pytest.raises(ValueError, match="at least one batch"):
        reestimate_bn(a, x[:1])
