"""Single-path supernet training (SPOS), few-shot supernets (with GM-NAS splits), fair and PA&DA sampling.

These methods train a supernet's weights **one sub-network at a time** and
leave the choice of architecture to an ordinary search: a trained supernet is
an evaluator (:class:`~nasforge.evaluators.supernet.SupernetEvaluator`) that
scores a sub-network by its validation accuracy with inherited weights
(BatchNorm recalibrated), so every strategy, objective and constraint works on
it. ``nasforge oneshot --method spos`` trains, searches and retrains the
winner; ``nasforge search --supernet FILE`` searches a trained supernet again.

* ``spos`` (Guo et al. 2020): every step trains one path drawn by ``sampling``.
* ``fewshot`` (Zhao et al. 2021): after ``epochs`` of SPOS on the whole
  supernet, the supernet is split on the operations of ``n_splits`` decisions
  into sub-supernets, each a copy of the trained parent that keeps only the
  architectures whose operations on the split decisions are its own, then each
  is fine-tuned for ``child_epochs``. A sub-network is scored by the
  sub-supernet that contains it (the sub-supernets partition the space).
  Which decisions are split: ``split="fixed"`` (``split_keys``, default the
  first decisions every architecture uses) or ``split="gm"`` (GM-NAS, Hu et al.
  2022): the decisions whose candidates' gradients on the shared weights
  disagree most (mean pairwise ``1 - cosine``). ``groups=0`` gives one
  sub-supernet per operation (few-shot NAS); ``groups=2`` splits each decision
  in two, grouping operations whose gradients agree (GM-NAS' min-cut, here the
  bipartition of least normalised cut, found exhaustively).

Sampling (``sampling``):

* ``uniform-op``: each decision's candidate uniformly and independently
  (SPOS; FairNAS' concern is that every operation is trained as often);
* ``uniform-arch``: uniformly over the space's architectures
  (:meth:`~nasforge.spaces.layout.Layout.sample_uniform`; differs from
  ``uniform-op`` only in conditional spaces, such as a MobileNet stage's depth);
* ``pada``: PA&DA-style importance sampling (Lu et al. 2023): a decision's
  candidate with probability growing with the running gradient norm of the
  paths that held it (the norm of a step's whole gradient, before the
  importance weight, credited to each operation of its path, parameter-free
  ones included), and training examples with probability growing with their last
  loss-gradient norm (``|softmax(z) - onehot(y)|``), each mixed with uniform
  sampling by ``pada_floor``; losses are weighted by the (self-normalised)
  importance ratios, so the expected gradient stays that of uniform sampling.
  ``pada_paths=False`` or ``pada_data=False`` keeps only the other half.

Checkpoints and resume work as for the DARTS family: the whole state is
written atomically after every epoch (``oneshot.pt``), and the trained
supernet is saved as ``supernet.pt`` (what ``nasforge search --supernet``
reads).
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nasforge.errors import ConfigError
from nasforge.evaluators import hardware
from nasforge.evaluators.hardware import resolve_device
from nasforge.evaluators.hardware.models import check_hardware
from nasforge.evaluators.training import task_tensors
from nasforge.oneshot.supernet import ChoiceOp, Supernet, atomic_save, checkpoint_file, path_accuracy, read_checkpoint
from nasforge.options import check_bool, check_choice, check_int, check_number
from nasforge.spaces.base import Architecture, SearchSpace

__all__ = ["BigNAS", "FewShot", "PathSampler", "SAMPLINGS", "SPOS", "SUPERNET_FILE", "SupernetTraining",
           "TrainedSupernet", "always_used_keys", "load_supernet"]

SAMPLINGS = ("uniform-op", "uniform-arch", "pada")
SPLITS = ("fixed", "gm")
CHECKPOINT = "oneshot.pt"
#: the file a trained supernet is saved to, in the checkpoint directory
SUPERNET_FILE = "supernet.pt"
FORMAT = "nasforge-supernet/1"


def always_used_keys(supernet: Supernet, n: int = 256, seed: int = 0) -> list[str]:
    """The decisions every architecture uses (found on ``n`` sampled architectures; a conditional decision,
    such as a block past a stage's smallest depth, is absent from some of them)."""
    rng = np.random.default_rng(seed)
    used = set(supernet.controller.keys)
    for _ in range(n):
        used &= set(supernet.path_of(supernet.space.sample(rng)))
    return [k for k in supernet.controller.keys if k in used]


# ----------------------------------------------------------------------------- the trained supernet

class TrainedSupernet:
    """One trained supernet, or several sub-supernets that partition the space (few-shot).

    ``groups[m]`` maps decision keys to the candidate indices sub-supernet ``m`` holds; an architecture
    belongs to the one sub-supernet whose groups contain its candidate on every split decision (one
    supernet: no groups, it holds everything). :meth:`score` is the validation accuracy (%) of a
    sub-network with inherited weights, BatchNorm recalibrated on training batches.

    ``task_config`` is what :func:`nasforge.api.load_task` rebuilds the task from (None for an in-memory
    task); ``history`` and ``train_seconds`` describe the training; ``path`` is the file it was saved to
    or loaded from (None until then).
    """

    def __init__(self, space: SearchSpace, task: Any, members: Sequence[Supernet],
                 groups: Sequence[Mapping[str, Sequence[int]]] | None = None, *, method: str = "spos",
                 params: Mapping[str, Any] | None = None, kind: str | None = None, recalibrate: bool = True,
                 calib_batches: int = 4, device: str = "cpu", task_config: Mapping[str, Any] | None = None,
                 history: Sequence[Mapping[str, Any]] = (), train_seconds: float | None = None,
                 tensors: dict[str, Any] | None = None) -> None:
        self.space, self.task, self.members = space, task, list(members)
        self.groups = [{k: tuple(int(i) for i in v) for k, v in g.items()} for g in (groups or [{}])]
        if len(self.groups) != len(self.members):
            raise ValueError(f"{len(self.members)} supernets but {len(self.groups)} groups")
        self.method, self.params, self.kind = method, dict(params or {}), kind
        self.recalibrate, self.calib_batches, self.device = recalibrate, int(calib_batches), device
        self.task_config = None if task_config is None else dict(task_config)
        self.history, self.train_seconds = [dict(h) for h in history], train_seconds
        self.path: str | None = None
        self._tensors = tensors

    def __len__(self) -> int:
        return len(self.members)

    def tensors(self) -> dict[str, Any]:
        if self._tensors is None:
            self._tensors = task_tensors(self.task, self.device)
        return self._tensors

    def member_of(self, arch: Architecture) -> int:
        """The index of the sub-supernet that holds ``arch``."""
        if len(self.members) == 1:
            return 0
        path = self.members[0].path_of(arch)
        hits = [m for m, g in enumerate(self.groups) if all(path.get(k) in idx for k, idx in g.items())]
        if len(hits) != 1:
            raise ValueError(f"{arch} belongs to {len(hits)} sub-supernets ({hits}); the split is not a partition")
        return hits[0]

    def score(self, arch: Architecture) -> float:
        """Validation accuracy (%) of ``arch`` with the weights it inherits from its (sub-)supernet."""
        t = self.tensors()
        sn = self.members[self.member_of(arch)]
        return path_accuracy(sn, arch, t["X_val"], t["y_val"], X_calib=t["X_train"], recalibrate=self.recalibrate,
                             calib_batches=self.calib_batches)

    def extract(self, arch: Architecture) -> Any:
        """The stand-alone network of ``arch`` with the weights it inherits (no BatchNorm recalibration)."""
        return self.members[self.member_of(arch)].extract(arch)

    def save(self, path: str | os.PathLike[str], task_config: Mapping[str, Any] | None = None) -> Path:
        """Write the supernet(s) to ``path`` (atomically) with what :func:`load_supernet` needs to rebuild
        them: the space and its options, the task's configuration (``task_config``, by default the one it
        was made with; ``api.task_config``), the method."""
        if task_config is not None:
            self.task_config = dict(task_config)
        blob = {"format": FORMAT, "method": self.method, "params": self.params, "kind": self.kind,
                "space": self.space.name, "space_params": self.space.get_params(), "task": self.task_config,
                "groups": self.groups, "recalibrate": self.recalibrate, "calib_batches": self.calib_batches,
                "members": [m.state_dict() for m in self.members]}
        path = Path(path)
        atomic_save(path, blob)
        self.path = str(path)
        return path


def load_supernet(path: str | os.PathLike[str], task: Any = None, device: str = "cpu") -> TrainedSupernet:
    """A trained supernet saved by :meth:`TrainedSupernet.save` (``supernet.pt``). The task is rebuilt from
    the recorded configuration unless given."""
    from nasforge.api import load_task, make_space
    from nasforge.oneshot.methods import build_supernet

    blob = read_checkpoint(Path(path), resolve_device(device))
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a trained nasforge supernet (written by `nasforge oneshot --method "
                          f"spos|fewshot|bignas`, file {SUPERNET_FILE})")
    if task is None:
        if not blob["task"] or "source" not in blob["task"]:
            raise ConfigError(f"supernet {path} was trained on an in-memory task ({(blob['task'] or {}).get('name')}) "
                              f"that cannot be loaded again; give the task object")
        task = load_task(blob["task"])
    space = make_space(blob["space"], blob["space_params"], task=task)
    members = []
    for state in blob["members"]:
        sn = build_supernet(space, task, 0, kind=blob["kind"])
        sn.load_state_dict(state)
        members.append(sn.to(resolve_device(device)))
    out = TrainedSupernet(space, task, members, blob["groups"], method=blob["method"], params=blob["params"],
                          kind=blob["kind"], recalibrate=blob["recalibrate"], calib_batches=blob["calib_batches"],
                          device=device, task_config=blob["task"])
    out.path = str(path)
    return out


# ----------------------------------------------------------------------------- sampling

class PathSampler:
    """Draws the sub-network of each training step: ``uniform-op``, ``uniform-arch`` or ``pada``.

    ``sample(rng, allowed)`` returns ``(arch, weight)``: ``allowed`` restricts some decisions to some
    candidates (a few-shot sub-supernet); ``weight`` is the loss weight that keeps PA&DA's gradient
    unbiased (1 for the uniform samplings). ``update(path, norm)`` feeds PA&DA the gradient norm of a step
    that trained ``path``: every candidate on it is credited with it.
    """

    def __init__(self, supernet: Supernet, mode: str = "uniform-op", floor: float = 0.3,
                 momentum: float = 0.9) -> None:
        self.supernet, self.mode = supernet, check_choice("sampling", mode, SAMPLINGS)
        self.floor, self.momentum = float(floor), float(momentum)
        ctl = supernet.controller
        self.keys = list(ctl.keys)
        self.sizes = {k: len(ctl.decisions[k].options) for k in self.keys}
        self.norms = {k: np.ones(n) for k, n in self.sizes.items()}
        self.ratio_mean = 1.0
        self.last_weight = 1.0  # the loss weight of the last sample

    def probabilities(self, key: str, allowed: Sequence[int] | None = None) -> np.ndarray:
        n = self.sizes[key]
        mask = np.zeros(n)
        mask[list(allowed) if allowed is not None else slice(None)] = 1.0
        if self.mode != "pada":
            return mask / mask.sum()
        g = self.norms[key] * mask
        p = (1.0 - self.floor) * g / g.sum() + self.floor * mask / mask.sum()
        return p / p.sum()

    def sample(self, rng: np.random.Generator, allowed: Mapping[str, Sequence[int]] | None = None,
               tries: int = 10_000) -> tuple[Architecture, float]:
        allowed = allowed or {}
        sn, space = self.supernet, self.supernet.space
        if self.mode == "uniform-arch":
            for _ in range(tries):
                values = space.layout.sample_uniform(rng)
                try:
                    arch = space.make(values)
                except Exception:  # a validity rule of the space: draw again (rejection keeps it uniform)
                    continue
                path = sn.path_of(arch)
                if all(path.get(k) in idx for k, idx in allowed.items()):
                    return arch, 1.0
            raise RuntimeError(f"no architecture of the allowed candidates {dict(allowed)} in {tries} draws")
        chosen, ratio = {}, 1.0
        for key in self.keys:
            p = self.probabilities(key, allowed.get(key))
            i = int(rng.choice(len(p), p=p))
            chosen[key] = i
        strength = {k: float(rng.random()) for k in self.keys}
        arch = sn.derive_from(chosen, strength)
        self.last_weight = 1.0
        if self.mode == "pada":
            for key, i in sn.path_of(arch).items():
                n_allowed = len(allowed[key]) if key in allowed else self.sizes[key]
                ratio *= (1.0 / n_allowed) / float(self.probabilities(key, allowed.get(key))[i])
            self.ratio_mean = 0.99 * self.ratio_mean + 0.01 * ratio
            self.last_weight = ratio / self.ratio_mean
        return arch, self.last_weight

    def update(self, path: Mapping[str, int], norm: float) -> None:
        if not math.isfinite(norm):
            return
        for key, i in path.items():
            self.norms[key][i] = self.momentum * self.norms[key][i] + (1 - self.momentum) * max(norm, 1e-8)


def candidate_parameters(supernet: Supernet) -> dict[str, list[list[torch.nn.Parameter]]]:
    """Per decision key, per candidate, the weights of that candidate in every choice op of the key."""
    out: dict[str, list[list[torch.nn.Parameter]]] = {}
    for m in supernet.modules():
        if isinstance(m, ChoiceOp):
            lists = out.setdefault(m.key, [[] for _ in m.ops])
            for i, op in enumerate(m.ops):
                lists[i].extend(op.parameters())
    return out


# ----------------------------------------------------------------------------- training

class SupernetTraining:
    """Single-path training of a supernet (SPOS), checkpointed and resumable; the base of few-shot training.

    ``run`` is not used for these methods: :meth:`train` trains and returns a :class:`TrainedSupernet`;
    ``nasforge oneshot`` then searches it with ``search_strategy`` for ``search_trials`` trials and
    retrains the winner for ``retrain_epochs`` (0: not retrained).
    """

    name = "spos"
    #: a method whose result is a trained supernet to search (not a derived architecture)
    searches = True
    kind: str | None = None

    def __init__(self, space: SearchSpace, task: Any, *, epochs: int = 30, batch_size: int = 64, lr: float = 0.05,
                 lr_min: float = 0.0, momentum: float = 0.9, weight_decay: float = 3e-4, grad_clip: float = 5.0,
                 sampling: str = "uniform-op", pada_floor: float = 0.3, pada_paths: bool = True,
                 pada_data: bool = True, recalibrate_bn: bool = True,
                 calib_batches: int = 4, search_strategy: str = "rea", search_trials: int = 100,
                 search_options: Mapping[str, Any] | None = None, retrain_epochs: int = 10, seed: int = 0,
                 threads: int | None = None, device: str = "cpu", hardware: Any = None,
                 hardware_options: Mapping[str, Any] | None = None) -> None:
        from nasforge.registry import STRATEGIES

        self.space, self.task = space, task
        self.epochs = check_int("epochs", epochs, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=2)
        self.lr = check_number("lr", lr, 0.0, low_open=True)
        self.lr_min = check_number("lr_min", lr_min, 0.0)
        self.momentum = check_number("momentum", momentum, 0.0, 1.0, high_open=True)
        self.weight_decay = check_number("weight_decay", weight_decay, 0.0)
        self.grad_clip = check_number("grad_clip", grad_clip, 0.0, low_open=True)
        self.sampling = check_choice("sampling", sampling, SAMPLINGS)
        self.pada_floor = check_number("pada_floor", pada_floor, 0.0, 1.0, low_open=True)
        self.pada_paths = check_bool("pada_paths", pada_paths)
        self.pada_data = check_bool("pada_data", pada_data)
        if self.sampling == "pada" and not (self.pada_paths or self.pada_data):
            raise ConfigError("sampling 'pada' with pada_paths=False and pada_data=False is uniform-op sampling; "
                              "say sampling='uniform-op'")
        self.recalibrate_bn = check_bool("recalibrate_bn", recalibrate_bn)
        self.calib_batches = check_int("calib_batches", calib_batches, minimum=1)
        STRATEGIES.get(search_strategy)  # an unknown strategy is an error before any training
        self.search_strategy = search_strategy
        self.search_trials = check_int("search_trials", search_trials, minimum=1)
        self.search_options = dict(search_options or {})
        self.retrain_epochs = check_int("retrain_epochs", retrain_epochs, minimum=0)
        self.seed = check_int("seed", seed, minimum=0)
        self.threads = None if threads is None else check_int("threads", threads, minimum=1)
        resolve_device(device)
        self.device = device
        check_hardware(hardware, hardware_options)  # before any training
        self.hardware, self.hardware_options = hardware, dict(hardware_options or {})

    def search_evaluator(self, trained: TrainedSupernet) -> Any:
        """The evaluator of the search step: ``trained`` scoring sub-networks with inherited weights, and
        reporting ``latency_ms`` through the hardware model when the method has one."""
        from nasforge.evaluators.supernet import SupernetEvaluator

        return SupernetEvaluator(trained, threads=self.threads, device=self.device, hardware=self.hardware,
                                 hardware_options=self.hardware_options)

    # -- description ---------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The method's options (JSON-able): recorded with the study and checked on resume."""
        keys = ("epochs", "batch_size", "lr", "lr_min", "momentum", "weight_decay", "grad_clip", "sampling",
                "recalibrate_bn", "calib_batches", "search_strategy", "search_trials", "search_options",
                "retrain_epochs", "seed")
        out = {k: getattr(self, k) for k in keys}
        if self.sampling == "pada":
            out.update(pada_floor=self.pada_floor, pada_paths=self.pada_paths, pada_data=self.pada_data)
        if self.hardware is not None:  # only when set: studies recorded before these options resume unchanged
            out.update(hardware=self.hardware if isinstance(self.hardware, str) else self.hardware.describe(),
                       hardware_options=self.hardware_options)
        return {"method": self.name, **out}

    def phases(self) -> list[tuple[str, int]]:
        """The training phases: ``(what, epochs)``; SPOS trains the one supernet."""
        return [("supernet", self.epochs)]

    # -- the run -------------------------------------------------------------------
    def train(self, checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
              progress: Callable[[dict[str, Any]], None] | None = None) -> TrainedSupernet:
        """Train the supernet (checkpointed after every epoch with ``checkpoint_dir``; ``resume`` continues
        from the checkpoint there) and return it (``TrainedSupernet.save`` writes it for later searches)."""
        with hardware.torch_threads(self.threads):
            return self._train(checkpoint_dir, resume, progress or (lambda info: None))

    def build(self) -> Supernet:
        from nasforge.oneshot.methods import build_supernet

        return build_supernet(self.space, self.task, self.seed, kind=self.kind).to(self.data["device"])

    def _train(self, checkpoint_dir: Any, resume: bool, progress: Callable[[dict[str, Any]], None]) -> TrainedSupernet:
        start = time.perf_counter()
        self.data = task_tensors(self.task, self.device)
        self.members: list[Supernet] = [self.build()]
        self.groups: list[dict[str, tuple[int, ...]]] = [{}]
        self.rng = np.random.default_rng(self.seed)
        self.sampler = PathSampler(self.members[0], "uniform-op" if self.sampling == "pada" and not self.pada_paths
                                   else self.sampling, self.pada_floor)
        self.data_norms = torch.ones(len(self.data["y_train"]))
        self.prepare()
        state: dict[str, Any] = {"phase": 0, "member": 0, "epoch": 0, "history": [], "elapsed": 0.0,
                                 "split": None}
        self._new_optimizer(0)
        path = checkpoint_file(checkpoint_dir, CHECKPOINT, resume)
        if resume:
            state = self._load(path)  # type: ignore[arg-type]
        elapsed0 = float(state["elapsed"])

        def save() -> None:
            if path is not None:
                state["elapsed"] = elapsed0 + time.perf_counter() - start
                self._save(path, state)

        phases = self.phases()
        while state["phase"] < len(phases):
            what, epochs = phases[state["phase"]]
            if what == "split" and state["split"] is None:
                t0 = time.perf_counter()
                state["split"] = self.split(progress)
                self._apply_split(state["split"])
                state["member"], state["epoch"] = 0, 0
                self._new_optimizer(0)
                info = {"phase": "split", "decisions": state["split"]["keys"], "members": len(self.members),
                        "groups": state["split"]["labels"], "seconds": time.perf_counter() - t0,
                        "scores": state["split"]["scores"]}
                state["history"].append(info)
                progress(info)
                state["phase"] += 1
                save()
                continue
            members = list(range(len(self.members))) if what == "members" else [0]
            while state["member"] < len(members):
                m = members[state["member"]]
                while state["epoch"] < epochs:
                    t0 = time.perf_counter()
                    info = self._train_epoch(m, state["epoch"], epochs)
                    state["epoch"] += 1
                    info.update(phase=what, member=m, members=len(self.members), epoch=state["epoch"],
                                epochs=epochs, seconds=time.perf_counter() - t0)
                    state["history"].append(info)
                    progress(info)
                    save()
                state["member"] += 1
                state["epoch"] = 0
                if state["member"] < len(members):
                    self._new_optimizer(members[state["member"]])
            state["phase"] += 1
            state["member"], state["epoch"] = 0, 0
            save()
        return TrainedSupernet(self.space, self.task, self.members, self.groups, method=self.name,
                               params=self.params(), kind=self.kind, recalibrate=self.recalibrate_bn,
                               calib_batches=self.calib_batches, device=self.device, history=state["history"],
                               train_seconds=elapsed0 + time.perf_counter() - start, tensors=self.data)

    def prepare(self) -> None:
        """Called once the supernet is built, before any checkpoint is read (a subclass adds its parameters)."""

    def _new_optimizer(self, member: int) -> None:
        self.opt = torch.optim.SGD(self.members[member].weight_parameters(), lr=self.lr, momentum=self.momentum,
                                   weight_decay=self.weight_decay, nesterov=True)

    # -- one epoch -------------------------------------------------------------------
    def _batches(self, epoch: int, member: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's training batches: ``(indices, example weights)``."""
        n = len(self.data["y_train"])
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 7_919 * member + epoch)
        steps = max(1, n // self.batch_size)
        if self.sampling != "pada" or not self.pada_data:
            perm = torch.randperm(n, generator=gen)
            return [(perm[s * self.batch_size:(s + 1) * self.batch_size], torch.ones(self.batch_size))
                    for s in range(steps)]
        g = self.data_norms
        q = (1 - self.pada_floor) * g / g.sum() + self.pada_floor / n
        idx = torch.multinomial(q, steps * self.batch_size, replacement=True, generator=gen)
        w = 1.0 / (n * q[idx])
        return [(idx[s * self.batch_size:(s + 1) * self.batch_size], w[s * self.batch_size:(s + 1) * self.batch_size])
                for s in range(steps)]

    def _train_epoch(self, member: int, epoch: int, epochs: int) -> dict[str, Any]:
        t, sn = self.data, self.members[member]
        sn.train()
        weights = sn.weight_parameters()
        batches = self._batches(epoch, member)
        total = len(batches) * epochs
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (idx, w) in enumerate(batches):
            lr_max = self.phase_lr(member)
            lr = self.lr_min + (lr_max - self.lr_min) * 0.5 * (1 + math.cos(math.pi * (epoch * len(batches) + step)
                                                                           / total))
            for g in self.opt.param_groups:
                g["lr"] = lr
            xb, yb = t["X_train"][idx.to(t["device"])], t["y_train"][idx.to(t["device"])]
            self.opt.zero_grad(set_to_none=True)
            loss, out, arch = self.train_step(sn, member, xb, yb, w.to(t["device"]) / w.mean())
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{self.name}: the supernet's training loss is {loss.item()} at epoch "
                                         f"{epoch + 1}, step {step + 1}; lower lr (now {self.lr})")
            norm = float(torch.nn.utils.clip_grad_norm_(weights, self.grad_clip))
            if self.sampling == "pada" and self.pada_paths:
                # the path's gradient norm (before the importance weight scaled it) is credited to each of its
                # operations, parameter-free ones included (PA&DA: sampling in proportion to the path's norm)
                self.sampler.update(sn.path_of(arch), norm / max(self.sampler.last_weight, 1e-12))
            if self.sampling == "pada" and self.pada_data:
                with torch.no_grad():
                    err = torch.softmax(out.detach(), 1)
                    err[torch.arange(len(yb)), yb] -= 1.0
                    self.data_norms[idx] = err.norm(dim=1).cpu()
            self.opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.detach().argmax(1) == yb).sum())
            seen += len(idx)
        return {"train_loss": loss_sum / max(seen, 1), "train_acc": 100.0 * correct / max(seen, 1), "lr": lr}

    def phase_lr(self, member: int) -> float:
        """The peak learning rate of the phase being trained (cosine-annealed to ``lr_min`` over it)."""
        return self.lr

    def sample_arch(self, member: int) -> tuple[Architecture, float]:
        return self.sampler.sample(self.rng, self.groups[member])

    def train_step(self, sn: Supernet, member: int, xb: torch.Tensor, yb: torch.Tensor,
                   example_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Architecture]:
        """One step's gradients (backward done here, the optimiser step by the caller): one sampled path.
        Returns the loss, the logits and the architecture trained."""
        arch, path_weight = self.sample_arch(member)
        loss, out = self.step_loss(sn, arch, xb, yb, example_weights, path_weight)
        if torch.isfinite(loss):
            loss.backward()
        return loss, out, arch

    def step_loss(self, sn: Supernet, arch: Architecture, xb: torch.Tensor, yb: torch.Tensor,
                  example_weights: torch.Tensor, path_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of one training step on the path of ``arch`` (and the logits)."""
        sn.set_arch(arch)
        out = sn(xb)
        loss = (F.cross_entropy(out, yb, reduction="none") * example_weights).mean() * path_weight
        return loss, out

    # -- few-shot hooks ----------------------------------------------------------------
    def split(self, progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _apply_split(self, split: Mapping[str, Any]) -> None:
        parent = self.members[0]
        groups = [dict(g) for g in split["groups"]]
        self.members = [parent] + [copy.deepcopy(parent) for _ in groups[1:]]
        self.groups = [{k: tuple(v) for k, v in g.items()} for g in groups]
        for sn in self.members:  # deepcopy does not copy the controller's (shared, non-module) reference
            sn.controller.generator = None

    # -- checkpoints -------------------------------------------------------------------
    def extra_state(self) -> Any:
        """What a subclass adds to the checkpoint (Single-Path NAS: its thresholds and their optimiser)."""
        return None

    def load_extra_state(self, extra: Any) -> None:
        """Restore what :meth:`extra_state` saved."""

    def _save(self, path: Path, state: dict[str, Any]) -> None:
        atomic_save(path, {"params": self.params(), "space": self.space.name, "space_params": self.space.get_params(),
                           "state": state, "members": [m.state_dict() for m in self.members],
                           "opt": self.opt.state_dict(), "rng": self.rng.bit_generator.state,
                           "sampler": {"norms": self.sampler.norms, "ratio_mean": self.sampler.ratio_mean},
                           "data_norms": self.data_norms, "extra": self.extra_state()})

    def _load(self, path: Path) -> dict[str, Any]:
        blob = read_checkpoint(path, self.data["device"])
        if blob.get("params") != self.params() or blob.get("space") != self.space.name:
            raise ConfigError(f"checkpoint {path} was written by another search ({blob.get('params')} on space "
                              f"{blob.get('space')!r}); resume with the same options, or start a new one")
        state = blob["state"]
        if state["split"] is not None:
            self._apply_split(state["split"])
        for m, sd in zip(self.members, blob["members"]):
            m.load_state_dict(sd)
        member = state["member"] if self.phases()[min(state["phase"], len(self.phases()) - 1)][0] == "members" else 0
        self._new_optimizer(min(member, len(self.members) - 1))
        self.opt.load_state_dict(blob["opt"])
        self.rng.bit_generator.state = blob["rng"]
        self.sampler.norms, self.sampler.ratio_mean = blob["sampler"]["norms"], blob["sampler"]["ratio_mean"]
        self.data_norms = blob["data_norms"]
        self.load_extra_state(blob.get("extra"))
        return state


class SPOS(SupernetTraining):
    """Single Path One-Shot: uniform single-path supernet training, then an ordinary search of its sub-networks."""

    name = "spos"


class FewShot(SupernetTraining):
    """Few-shot NAS: SPOS on the whole supernet, then split into sub-supernets fine-tuned from it."""

    name = "fewshot"

    def __init__(self, space: SearchSpace, task: Any, *, split: str = "gm", split_keys: Sequence[str] | None = None,
                 n_splits: int = 1, groups: int = 0, child_epochs: int | None = None, child_lr: float | None = None,
                 gm_batches: int = 4, **options: Any) -> None:
        super().__init__(space, task, **options)
        self.split_mode = check_choice("split", split, SPLITS)
        self.split_keys = None if split_keys is None else [str(k) for k in split_keys]
        self.n_splits = check_int("n_splits", n_splits, minimum=1)
        self.n_groups = check_int("groups", groups, minimum=0)
        if self.n_groups == 1:
            raise ConfigError("groups must be 0 (one sub-supernet per operation) or at least 2, got 1")
        self.child_epochs = max(1, self.epochs // 3) if child_epochs is None else \
            check_int("child_epochs", child_epochs, minimum=1)
        self.gm_batches = check_int("gm_batches", gm_batches, minimum=1)
        self.child_lr = self.lr if child_lr is None else check_number("child_lr", child_lr, 0.0, low_open=True)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "split": self.split_mode, "split_keys": self.split_keys,
                "n_splits": self.n_splits, "groups": self.n_groups, "child_epochs": self.child_epochs,
                "child_lr": self.child_lr, "gm_batches": self.gm_batches}

    def phases(self) -> list[tuple[str, int]]:
        return [("supernet", self.epochs), ("split", 0), ("members", self.child_epochs)]

    def phase_lr(self, member: int) -> float:
        return self.child_lr if len(self.members) > 1 else self.lr

    def split(self, progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Choose the decisions to split and how to group their candidates; returns a JSON-able plan."""
        sn = self.members[0]
        candidates = always_used_keys(sn, seed=self.seed)
        if not candidates:
            raise ConfigError(f"space {self.space.name!r} has no decision that every architecture uses; few-shot "
                              f"splitting needs one")
        if self.split_keys is not None:
            bad = [k for k in self.split_keys if k not in candidates]
            if bad:
                raise ConfigError(f"split_keys {bad} are not decisions every architecture uses; accepted: "
                                  f"{', '.join(candidates)}")
            pool = list(self.split_keys)
        else:
            pool = candidates
        need_grads = self.split_mode == "gm" or self.n_groups >= 2
        sims: dict[str, np.ndarray] = {}
        scores: dict[str, float] = {}
        if need_grads:
            for key in (pool if self.split_mode == "gm" else pool[:self.n_splits]):
                sims[key] = self.gradient_similarity(key)
                n = len(sims[key])
                scores[key] = float(np.mean([1.0 - sims[key][i, j] for i in range(n) for j in range(n) if i != j]))
        if self.split_mode == "gm":
            keys = sorted(pool, key=lambda k: -scores[k])[:self.n_splits]
        else:
            keys = pool[:self.n_splits]
        per_key: list[list[tuple[int, ...]]] = []
        for key in keys:
            n = len(sn.controller.decisions[key].options)
            if self.n_groups >= 2:
                per_key.append(min_cut_groups(sims[key], self.n_groups))
            else:
                per_key.append([(i,) for i in range(n)])
        groups = [{k: list(g) for k, g in zip(keys, combo)} for combo in itertools.product(*per_key)]
        return {"keys": keys, "groups": groups, "scores": {k: scores[k] for k in scores},
                "labels": [{k: [sn.controller.decisions[k].options[i] for i in g] for k, g in gr.items()}
                           for gr in groups]}

    def gradient_similarity(self, key: str) -> np.ndarray:
        """Cosine similarity between the candidates of decision ``key``: of the gradients, on the weights every
        candidate shares (all but the key's own), of the training loss with each candidate in place, over
        ``gm_batches`` batches, each with one sampled path for the other decisions."""
        sn, t = self.members[0], self.data
        own = {id(p) for ps in candidate_parameters(sn).get(key, []) for p in ps}
        shared = [p for p in sn.weight_parameters() if id(p) not in own]
        n = len(sn.controller.decisions[key].options)
        rng = np.random.default_rng(self.seed + 101)
        gen = torch.Generator().manual_seed(self.seed + 103)
        sums = [None] * n
        sn.train()
        from nasforge.oneshot.supernet import bn_snapshot

        with bn_snapshot(sn):
            for _ in range(self.gm_batches):
                idx = torch.randint(len(t["y_train"]), (self.batch_size,), generator=gen).to(t["device"])
                ctl = sn.controller
                chosen = {k: int(rng.integers(len(ctl.decisions[k].options))) for k in ctl.keys}
                strength = {k: float(rng.random()) for k in ctl.keys}
                for i in range(n):
                    chosen[key] = i
                    arch = sn.derive_from(chosen, strength)
                    sn.set_arch(arch)
                    loss = F.cross_entropy(sn(t["X_train"][idx]), t["y_train"][idx])
                    grads = torch.autograd.grad(loss, shared, allow_unused=True)
                    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                                      for g, p in zip(grads, shared)])
                    sums[i] = flat if sums[i] is None else sums[i] + flat
        G = torch.stack(sums)
        G = G / G.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (G @ G.T).numpy().astype(float)


def min_cut_groups(similarity: np.ndarray, k: int = 2) -> list[tuple[int, ...]]:
    """Split candidates into ``k`` non-empty groups so that the similarity across groups is smallest
    relative to the groups' sizes (normalised cut), by exhaustive search (a decision has few candidates).
    ``k`` larger than the number of candidates gives one group per candidate."""
    n = len(similarity)
    if k >= n:
        return [(i,) for i in range(n)]
    S = np.clip(similarity, 0.0, None)  # dissimilar (negative) pairs cost nothing to cut
    best, best_cost = None, math.inf
    for labels in itertools.product(range(k), repeat=n - 1):
        full = (0,) + labels  # candidate 0 in group 0 (labels are symmetric)
        if len(set(full)) != k:
            continue
        cost = 0.0
        for g in range(k):
            inside = [i for i in range(n) if full[i] == g]
            cut = sum(S[i, j] for i in inside for j in range(n) if full[j] != g)
            cost += cut / len(inside)
        if cost < best_cost - 1e-12:
            best, best_cost = full, cost
    assert best is not None
    return [tuple(i for i in range(n) if best[i] == g) for g in range(k)]


class BigNAS(SupernetTraining):
    """BigNAS / Once-for-All: an elastic MobileNet supernet trained with the sandwich rule, searched under a
    constraint and used without retraining.

    Every step trains the largest sub-network on the labels, then the smallest and ``n_random`` random
    ones on the largest one's (detached) predictions (in-place distillation, the loss
    ``-sum softmax(z_largest) * log_softmax(z)``); the gradients of all of them are summed into one
    optimiser step. The supernet is :class:`~nasforge.oneshot.elastic.ElasticMobileNetSupernet`
    (``mobilenet:elastic``): every kernel size, expansion, SE and depth shares one weight per block.
    ``retrain_epochs`` defaults to 0: a found sub-network is used with its inherited weights.
    """

    name = "bignas"
    kind = "elastic"

    def __init__(self, space: SearchSpace, task: Any, *, n_random: int = 2, retrain_epochs: int = 0,
                 **options: Any) -> None:
        if space.name != "mobilenet":
            raise ConfigError(f"bignas trains the elastic MobileNet supernet; space {space.name!r} is not "
                              f"'mobilenet' (use spos or fewshot for other spaces)")
        if options.get("sampling") == "pada":
            raise ConfigError("bignas samples its random sub-networks uniformly (uniform-op or uniform-arch); "
                              "sampling 'pada' needs a supernet with choice ops")
        super().__init__(space, task, retrain_epochs=retrain_epochs, **options)
        self.n_random = check_int("n_random", n_random, minimum=0)
        self.last_step: list[str] = []

    def params(self) -> dict[str, Any]:
        return {**super().params(), "n_random": self.n_random}

    def train_step(self, sn: Supernet, member: int, xb: torch.Tensor, yb: torch.Tensor,
                   example_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Architecture]:
        largest, smallest = sn.largest_arch(), sn.smallest_arch()  # type: ignore[attr-defined]
        sn.set_arch(largest)
        out = sn(xb)
        loss = (F.cross_entropy(out, yb, reduction="none") * example_weights).mean()
        if not torch.isfinite(loss):
            return loss, out, largest
        loss.backward()
        soft = torch.softmax(out.detach(), dim=1)
        self.last_step = [self.space.key(largest)]
        for arch in [smallest] + [self.sample_arch(member)[0] for _ in range(self.n_random)]:
            sn.set_arch(arch)
            kd = -(soft * torch.log_softmax(sn(xb), dim=1)).sum(1).mean()
            kd.backward()
            self.last_step.append(self.space.key(arch))
        return loss, out, largest
