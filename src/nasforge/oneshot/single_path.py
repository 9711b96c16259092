"""Single-Path NAS (Stamoulis et al. 2019): kernel sizes and expansions as nested weights of one superkernel.

Every block of the elastic MobileNet supernet
(:class:`~nasforge.oneshot.elastic.ElasticMobileNetSupernet`) computes with its
largest weights masked by gates, and each gate is an indicator that a group of
weights matters: ``g = 1[ v > t ]``, with ``v`` the mean square of the group's
weights relative to its value at initialisation and ``t`` a trainable
threshold (starting at 0.5, so every gate starts on). A gate is 0 or 1 forward; backward it carries the gradient of
``sigmoid((v - t) / temperature)`` (straight-through), to the threshold and to
the weights. Per block:

* kernel ``k_j`` (options ascending): the ring of the depthwise kernel between
  the centred ``k_{j-1}`` and ``k_j`` squares;
* expansion ``e_j`` (the options above 1, ascending): the hidden channels
  ``cin * e_{j-1} .. cin * e_j`` of the depthwise kernel;
* keep (every block but a stage's first; dropping blocks sets the stage's
  depth): the block's first ``cin * e_1`` depthwise channels;
* squeeze-excitation: a trainable logit ``s``, gate ``1[s > 0]``.

Weights and thresholds are trained together on training batches (one level,
as in the paper), the loss being the cross-entropy plus ``cost_weight`` times
the expected cost of the gated network divided by the cost of the largest one
(``cost="flops"``: per block, the FLOPs of each (kernel, expansion, SE)
configuration weighted by the gates' probabilities; ``cost="latency"``: the same
with each configuration's latency as a stand-alone block, from a lookup table,
settings in ``hardware_options``, as in the paper). All gates start on (the largest network); the architecture is
what the gates say at the end (:meth:`ElasticMobileNetSupernet.superkernel_arch`),
scored with inherited weights (BatchNorm recalibrated). Expansion 1 (a block
without an expand conv) has no superkernel, so the derived blocks use the
expansions above 1.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError
from nasforge.oneshot.methods import latency_cost_table
from nasforge.oneshot.spos import SupernetTraining
from nasforge.options import check_choice, check_number
from nasforge.spaces.base import Architecture, SearchSpace

__all__ = ["SinglePathNAS"]


class SinglePathNAS(SupernetTraining):
    """Single-Path NAS on the ``mobilenet`` space: superkernels with trainable thresholds (see the module)."""

    name = "single-path"
    kind = "elastic"
    searches = False
    COSTS = ("flops", "latency", "none")
    #: options of the base class that mean nothing here (no sampled paths, no search step, no retraining)
    not_options = ("sampling", "pada_floor", "search_strategy", "search_trials", "search_options", "retrain_epochs")

    def __init__(self, space: SearchSpace, task: Any, *, cost: str = "flops", cost_weight: float = 0.1,
                 threshold_lr: float = 0.01, temperature: float = 0.25, hardware: Any = None,
                 hardware_options: dict[str, Any] | None = None, **options: Any) -> None:
        if space.name != "mobilenet":
            raise ConfigError(f"single-path searches the superkernels of the mobilenet space, not {space.name!r}")
        wrong = sorted(set(options) & set(self.not_options))
        if wrong:
            raise ConfigError(f"single-path has no option(s) {', '.join(wrong)}: it trains one superkernel network "
                              f"and derives its architecture (no sampled paths, no search step)")
        super().__init__(space, task, **options)
        self.cost = check_choice("cost", cost, self.COSTS)
        self.cost_weight = check_number("cost_weight", cost_weight, 0.0)
        self.threshold_lr = check_number("threshold_lr", threshold_lr, 0.0, low_open=True)
        self.temperature = check_number("temperature", temperature, 0.0, low_open=True)
        # here the latency model of the cost term (the base class's search step has none: no search)
        self.hardware_options = dict(hardware_options or {})
        self.latency_table = latency_cost_table(self.cost, hardware, self.hardware_options, self.device, self.name)
        self._config_costs: dict[tuple[int, int, int, int, bool], float] = {}

    def params(self) -> dict[str, Any]:
        out = super().params()
        for k in ("search_strategy", "search_trials", "search_options", "retrain_epochs", "sampling"):
            out.pop(k, None)
        out = {**out, "cost": self.cost, "cost_weight": self.cost_weight, "threshold_lr": self.threshold_lr,
               "temperature": self.temperature}
        if self.cost == "latency":  # only then: studies recorded before this cost resume unchanged
            out["hardware_options"] = self.hardware_options
        return out

    # -- thresholds --------------------------------------------------------------------
    def prepare(self) -> None:
        sn = self.members[0]
        self.blocks = [f"s{s}.b{b}" for s in range(len(self.space.stages)) for b in range(int(self.space.max_depth))]
        self.thresholds = nn.ParameterDict()
        self.reference: dict[str, torch.Tensor] = {}
        self.block_groups = {key: self._groups(key) for key in self.blocks}  # read every step: listed once
        self._rings: dict[tuple[int, int, int], torch.Tensor] = {}
        dev = self.data["device"]
        for key in self.blocks:
            block = sn.block(key)  # type: ignore[attr-defined]
            groups = self.block_groups[key]
            with torch.no_grad():
                self.reference[key] = torch.stack([self._group_power(key, g).detach() for g in groups]) \
                    if groups else torch.zeros(0, device=dev)
            self.thresholds[key.replace(".", "_")] = nn.Parameter(torch.full((len(groups),), 0.5, device=dev))
            if block.se_fixed is None and block.has_se:
                self.thresholds[key.replace(".", "_") + "_se"] = nn.Parameter(torch.ones((), device=dev))
        self.t_opt = torch.optim.Adam(self.thresholds.parameters(), lr=self.threshold_lr)
        largest = float(self._largest_cost())
        self.cost_ref = largest if largest > 0 else 1.0  # FLOPs, or ms (below 1 on small networks)

    def _groups(self, key: str) -> list[tuple[str, int, int]]:
        """The weight groups of a block's gates, in order: ``("kernel", k_prev, k)``, ``("expand", lo, hi)``,
        ``("keep", 0, cin * e_1)``."""
        block = self.members[0].block(key)  # type: ignore[attr-defined]
        out = [("kernel", a, b) for a, b in zip(block.kernels[:-1], block.kernels[1:])]
        out += [("expand", block.cin * a, block.cin * b) for a, b in zip(block.sk_expands[:-1], block.sk_expands[1:])]
        if not key.endswith(".b0"):
            out.append(("keep", 0, block.cin * block.sk_expands[0]))
        return out

    def _group_power(self, key: str, group: tuple[str, int, int]) -> torch.Tensor:
        """Mean square of a group's depthwise weights."""
        block = self.members[0].block(key)  # type: ignore[attr-defined]
        w = block.dw_conv.weight
        kind, lo, hi = group
        if kind == "kernel":
            k_max = block.k_max
            outer = self._rings.get((k_max, lo, hi))
            if outer is None:  # the ring between the centred lo x lo and hi x hi squares, made once
                outer = torch.zeros(k_max, k_max, dtype=w.dtype, device=w.device)
                c0, c1 = (k_max - hi) // 2, (k_max - lo) // 2
                outer[c0:c0 + hi, c0:c0 + hi] = 1.0
                outer[c1:c1 + lo, c1:c1 + lo] = 0.0
                self._rings[(k_max, lo, hi)] = outer
            return (w.pow(2) * outer).sum() / (outer.sum() * w.shape[0])
        return w[lo:hi].pow(2).mean()

    def gates(self) -> dict[str, Any]:
        """The gates of every block now (hard forward, sigmoid gradient backward)."""
        from nasforge.oneshot.elastic import BlockGates

        out = {}
        for key in self.blocks:
            name = key.replace(".", "_")
            t = self.thresholds[name]
            vals: dict[str, list[torch.Tensor]] = {"kernel": [], "expand": [], "keep": []}
            for i, group in enumerate(self.block_groups[key]):
                v = self._group_power(key, group) / self.reference[key][i].clamp_min(1e-12)
                soft = torch.sigmoid((v - t[i]) / self.temperature)
                hard = (v > t[i]).to(soft.dtype)
                vals[group[0]].append(hard + soft - soft.detach())
            se = None
            if name + "_se" in self.thresholds:
                logit = self.thresholds[name + "_se"]
                soft = torch.sigmoid(logit / self.temperature)
                se = (logit > 0).to(soft.dtype) + soft - soft.detach()
            out[key] = BlockGates(vals["kernel"], vals["expand"], se, vals["keep"][0] if vals["keep"] else None)
        return out

    def derive(self) -> Architecture:
        """The architecture the gates describe now."""
        with torch.no_grad():
            return self.members[0].superkernel_arch(self.gates())  # type: ignore[attr-defined]

    # -- cost --------------------------------------------------------------------------
    def config_cost(self, stage: int, block: int, kernel: int, expand: int, se: bool) -> float:
        """The cost of one block configuration: its FLOPs, or (``cost="latency"``) its lookup-table entry
        as a stand-alone ``MBConv`` at its input shape (profiled once)."""
        sn = self.members[0]
        if self.latency_table is None:
            return float(sn.block_flops(stage, block, kernel, expand, se))  # type: ignore[attr-defined]
        key = (stage, block, int(kernel), int(expand), bool(se))
        if key not in self._config_costs:
            module, shape = sn.block_module(stage, block, kernel, expand, se)  # type: ignore[attr-defined]
            self._config_costs[key] = self.latency_table.unit_latency(module, shape)
        return self._config_costs[key]

    def expected_cost(self, gates: dict[str, Any]) -> torch.Tensor:
        """The cost of the gated network: per block, each configuration's cost (:meth:`config_cost`) times
        its gate probability."""
        sn = self.members[0]
        total = torch.zeros((), device=self.data["device"])
        for key in self.blocks:
            s, b = (int(x) for x in key[1:].split(".b"))
            block, g = sn.block(key), gates[key]  # type: ignore[attr-defined]
            kernel_p = _chain_probabilities(g.kernel)
            expand_p = _chain_probabilities(g.expand)
            se_options = [(block.se_fixed, 1.0)] if g.se is None else [(True, g.se), (False, 1 - g.se)]
            cost = torch.zeros((), device=total.device)
            for k, pk in zip(block.kernels, kernel_p):
                for e, pe in zip(block.sk_expands, expand_p):
                    for se, ps in se_options:
                        cost = cost + pk * pe * ps * self.config_cost(s, b, k, e, bool(se))
            total = total + (cost if g.keep is None else g.keep * cost)
        return total

    def _largest_cost(self) -> torch.Tensor:
        from nasforge.oneshot.elastic import BlockGates

        one = torch.ones((), device=self.data["device"])
        gates = {}
        for key in self.blocks:
            block = self.members[0].block(key)  # type: ignore[attr-defined]
            gates[key] = BlockGates([one] * (len(block.kernels) - 1), [one] * (len(block.sk_expands) - 1),
                                    None if block.se_fixed is not None or not block.has_se else one,
                                    None if key.endswith(".b0") else one)
        return self.expected_cost(gates)

    # -- training ------------------------------------------------------------------------
    def train_step(self, sn: Any, member: int, xb: torch.Tensor, yb: torch.Tensor,
                   example_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Architecture]:
        self.t_opt.zero_grad(set_to_none=True)
        gates = self.gates()
        sn.set_superkernel(gates)
        out = sn(xb)
        loss = F.cross_entropy(out, yb)
        if self.cost != "none" and self.cost_weight > 0:
            loss = loss + self.cost_weight * self.expected_cost(gates) / self.cost_ref
        if torch.isfinite(loss):
            loss.backward()
            self.t_opt.step()
        with torch.no_grad():
            arch = sn.superkernel_arch(gates)
        return loss, out, arch

    def _train_epoch(self, member: int, epoch: int, epochs: int) -> dict[str, Any]:
        info = super()._train_epoch(member, epoch, epochs)
        arch = self.derive()
        info.update(arch=str(arch), flops=int(self.members[0].arch_flops(arch)))  # type: ignore[attr-defined]
        return info

    def extra_state(self) -> Any:
        return {"thresholds": self.thresholds.state_dict(), "t_opt": self.t_opt.state_dict()}

    def load_extra_state(self, extra: Any) -> None:
        self.thresholds.load_state_dict(extra["thresholds"])
        self.t_opt.load_state_dict(extra["t_opt"])

    def run(self, checkpoint_dir: Any = None, resume: bool = False,
            progress: Callable[[dict[str, Any]], None] | None = None) -> Any:
        """Train the superkernels and thresholds, derive the architecture, score it with inherited weights."""
        from nasforge.oneshot.methods import OneShotOutcome, peak_rss_mb

        trained = self.train(checkpoint_dir, resume, progress)
        arch = self.derive()
        val = trained.score(arch)
        sn = self.members[0]
        metrics = {"val_acc": val, "supernet_epochs": self.epochs, "method": self.name,
                   "search_seconds": float(trained.train_seconds),
                   "peak_rss_mb": peak_rss_mb(), "flops": int(sn.arch_flops(arch)),  # type: ignore[attr-defined]
                   "largest_flops": float(sn.arch_flops(sn.largest_arch())),  # type: ignore[attr-defined]
                   "supernet_params": sum(p.numel() for p in sn.weight_parameters()),
                   "cost": self.cost,
                   "thresholds": {k: [float(x) for x in np.atleast_1d(v.detach().cpu().numpy())]
                                  for k, v in self.thresholds.items()}}
        if self.latency_table is not None:
            # the derived network by the same table, calibrated on whole networks as `--hardware lut` is
            metrics.update(latency_ms=self.latency_table.latency(self.space, arch, self.task),
                           largest_latency_ms=self.latency_table.latency(self.space, sn.largest_arch(), self.task),
                           hardware=self.latency_table.describe())
        return OneShotOutcome(arch, val, metrics, list(getattr(trained, "history", [])))


def _chain_probabilities(gates: list[torch.Tensor]) -> list[torch.Tensor]:
    """For a nested chain of gates ``g_2 .. g_m``: the probability of each of the ``m`` options
    (``1 - g_2``, ``g_2 (1 - g_3)``, ..., ``g_2 ... g_m``)."""
    out, prod = [], torch.ones(())
    for g in gates:
        out.append(prod * (1 - g))
        prod = prod * g
    out.append(prod)
    return out
