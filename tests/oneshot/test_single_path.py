"""Single-Path NAS: superkernel gates from thresholds, the expected cost, a cost that works, runs and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge import api
from nasforge.errors import ConfigError
from nasforge.oneshot.single_path import SinglePathNAS, _chain_probabilities
from nasforge.spaces.mobilenet import MobileNetSpace
from nasforge.spaces.nb201 import NB201Space
from nasforge.testing import tiny_task

TASK = tiny_task(n=240, classes=3, image=True)
SPACE = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=32)
OPTS = {"epochs": 2, "batch_size": 16, "threads": 1}


def prepared(**options) -> SinglePathNAS:
    m = SinglePathNAS(SPACE, TASK, **{**OPTS, **options})
    m.train()
    return m


def gated_archs(sn, n: int = 20, seed: int = 0) -> list:
    """Sampled architectures with their hard gates (those with expansion 1, which has no superkernel, left out)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        arch = SPACE.sample(rng)
        try:
            out.append((arch, sn.hard_gates(arch)))
        except ValueError:
            continue
    return out


def test_expected_cost_of_hard_gates_is_the_architectures_flops() -> None:
    m = prepared()
    sn = m.members[0]
    checked = gated_archs(sn)
    for arch, gates in checked:
        assert float(m.expected_cost(gates)) == pytest.approx(sn.arch_flops(arch) - sn.fixed_flops())
    assert len(checked) >= 3


def test_chain_probabilities_sum_to_one_and_follow_the_gates() -> None:
    g2, g3 = torch.tensor(0.3), torch.tensor(0.6)
    p = _chain_probabilities([g2, g3])
    assert [round(float(x), 6) for x in p] == [0.7, 0.12, 0.18] and float(sum(p)) == pytest.approx(1.0)


def test_gates_start_on_and_carry_gradients_to_the_thresholds() -> None:
    m = SinglePathNAS(SPACE, TASK, **OPTS)
    m.data = __import__("nasforge.evaluators.training", fromlist=["task_tensors"]).task_tensors(TASK, "cpu")
    m.members = [m.build()]
    m.prepare()
    sn = m.members[0]
    assert SPACE.key(m.derive()) == SPACE.key(sn.largest_arch())  # every gate on at the start
    gates = m.gates()
    sn.set_superkernel(gates)
    (sn(m.data["X_train"][:8]).sum() + m.expected_cost(gates)).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in m.thresholds.values())


def test_the_cost_term_finds_a_cheaper_network() -> None:
    free, costly = prepared(cost_weight=0.0, threshold_lr=0.05, epochs=4), prepared(cost_weight=2.0,
                                                                                    threshold_lr=0.05, epochs=4)
    sn = free.members[0]
    assert sn.arch_flops(costly.derive()) < 0.5 * sn.arch_flops(free.derive())


def test_single_path_through_the_api_records_and_resumes(tmp_path) -> None:
    db = f"sqlite:///{tmp_path}/sp.db"
    whole = SinglePathNAS(SPACE, TASK, **OPTS, threshold_lr=0.05).run()
    seen = []

    def stop_after_one(info):
        seen.append(info)
        if len(seen) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.oneshot("single-path", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "ck",
                    method_options={**OPTS, "threshold_lr": 0.05}, progress=stop_after_one)
    out = api.oneshot("single-path", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "ck",
                      resume=True, method_options={**OPTS, "threshold_lr": 0.05})
    assert out["arch"] == SPACE.key(whole.arch) and out["val_acc"] == whole.val_acc
    assert out["metrics"]["flops"] == whole.metrics["flops"] and out["metrics"]["method"] == "single-path"


def test_single_path_needs_the_mobilenet_space_and_names_bad_options() -> None:
    with pytest.raises(ConfigError, match="single-path searches the superkernels of the mobilenet space"):
        SinglePathNAS(NB201Space(C=2, N=1), TASK)
    with pytest.raises(ConfigError, match="cost 'time'"):
        SinglePathNAS(SPACE, TASK, cost="time")
    with pytest.raises(ConfigError, match="which a lookup table gives"):
        SinglePathNAS(SPACE, TASK, cost="latency", hardware="predictor")
    with pytest.raises(ConfigError, match="with cost='flops' they would not be used"):
        SinglePathNAS(SPACE, TASK, hardware="lut")


def test_options_of_the_training_base_that_mean_nothing_here_are_refused() -> None:
    from nasforge.registry import ONESHOT, accepted_options

    assert "sampling" not in accepted_options(ONESHOT.get("single-path"))
    assert "threshold_lr" in accepted_options(ONESHOT.get("single-path"))
    with pytest.raises(ConfigError, match="single-path has no option\\(s\\) sampling"):
        SinglePathNAS(SPACE, TASK, sampling="pada")


def test_latency_cost_sums_each_block_configurations_table_entry() -> None:
    from nasforge.testing import FakeLatencyTable

    table = FakeLatencyTable()
    m = SinglePathNAS(SPACE, TASK, cost="latency", hardware=table, threshold_lr=0.05, **OPTS)
    out = m.run()
    sn = m.members[0]
    checked = gated_archs(sn)
    for arch, gates in checked:
        by_hand = sum(sum(p.numel() for p in sn.block_module(s, b, k, e, se)[0].parameters()) / 1000
                      for s, stage in enumerate(SPACE.blocks(arch)) for b, (k, e, se) in enumerate(stage))
        assert float(m.expected_cost(gates)) == pytest.approx(by_hand)
    assert len(checked) >= 3
    assert out.metrics["cost"] == "latency" and m.params()["hardware_options"] == {}
    assert out.metrics["latency_ms"] == pytest.approx(table.latency(SPACE, out.arch, TASK))
    assert out.metrics["latency_ms"] <= out.metrics["largest_latency_ms"]  # a sub-network of the largest
