"""SPOS and few-shot supernets: scoring with inherited weights, the partition, splits, sampling, runs and resume."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from nasforge import api
from nasforge.errors import ConfigError, UnknownNameError
from nasforge.evaluators.supernet import SupernetEvaluator
from nasforge.evaluators.training import accuracy
from nasforge.oneshot.spos import (SUPERNET_FILE, FewShot, PathSampler, SPOS, always_used_keys, load_supernet,
                                   min_cut_groups)
from nasforge.oneshot.supernet import recalibrate_bn
from nasforge.registry import ONESHOT
from nasforge.spaces.mlp import MLPSpace
from nasforge.spaces.mobilenet import MobileNetSpace
from nasforge.spaces.nb201 import NB201Space
from nasforge.testing import tiny_task

TASK = tiny_task(n=120, classes=3, image=True)
SPACE = NB201Space(C=2, N=1)
OPTS = {"epochs": 2, "batch_size": 16, "threads": 1}


def spos(**options):
    return SPOS(SPACE, TASK, **{**OPTS, **options})


def states_equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_score_equals_a_manual_forward_of_the_stand_alone_network_with_inherited_weights() -> None:
    trained = spos().train()
    t = trained.tensors()
    rng = np.random.default_rng(3)
    for _ in range(3):
        arch = SPACE.sample(rng)
        net = trained.extract(arch)
        recalibrate_bn(net, t["X_train"], trained.calib_batches)
        assert trained.score(arch) == accuracy(net, t["X_val"], t["y_val"])
    # scoring leaves the supernet as it was: the same score twice, and BatchNorm statistics untouched
    before = {k: v.clone() for k, v in trained.members[0].state_dict().items()}
    assert trained.score(arch) == trained.score(arch)
    assert all(torch.equal(before[k], v) for k, v in trained.members[0].state_dict().items())


def test_same_seed_same_supernet_and_another_seed_another() -> None:
    a, b, c = spos().train(), spos().train(), spos(seed=1).train()
    assert states_equal(a.members[0], b.members[0]) and not states_equal(a.members[0], c.members[0])


@pytest.mark.parametrize("groups", [0, 2])
def test_few_shot_sub_supernets_partition_the_space(groups: int) -> None:
    trained = FewShot(SPACE, TASK, split="fixed", groups=groups, child_epochs=1, **OPTS).train()
    assert len(trained) == (5 if groups == 0 else 2)
    counts = Counter(trained.member_of(a) for a in SPACE.enumerate())  # member_of raises unless exactly one
    assert sum(counts.values()) == SPACE.size() == 15_625
    assert sorted(counts) == list(range(len(trained)))
    if groups == 0:
        assert set(counts.values()) == {3_125}  # one operation of the split edge each
    # each sub-supernet was fine-tuned from the parent: they differ from each other
    assert not states_equal(trained.members[0], trained.members[1])


def test_few_shot_trains_each_sub_supernet_only_on_its_own_architectures() -> None:
    m = FewShot(SPACE, TASK, split="fixed", split_keys=["2<-1"], child_epochs=1, **OPTS)
    seen = []
    orig = m.step_loss

    def spy(sn, arch, *rest):
        seen.append((m.members.index(sn), sn.path_of(arch)["2<-1"]))
        return orig(sn, arch, *rest)

    m.step_loss = spy
    trained = m.train()
    children = [(member, op) for member, op in seen[-5 * (len(TASK.y_train) // 16):]]
    assert {member for member, _ in children} == set(range(5))
    assert all(trained.groups[member]["2<-1"] == (op,) for member, op in children)


def test_gradient_matching_splits_the_decision_whose_candidates_disagree_most() -> None:
    m = FewShot(SPACE, TASK, split="gm", **OPTS)
    info = []
    trained = m.train(progress=info.append)
    split = next(i for i in info if i["phase"] == "split")
    assert split in trained.history  # kept with the epochs
    scores = split["scores"]
    assert set(scores) == set(always_used_keys(trained.members[0]))
    assert split["decisions"] == [max(scores, key=scores.get)]
    assert all(0.0 <= s <= 2.0 for s in scores.values())


def test_min_cut_groups_keeps_agreeing_candidates_together() -> None:
    S = np.array([[1.0, 0.9, 0.1, 0.0], [0.9, 1.0, 0.0, 0.1], [0.1, 0.0, 1.0, 0.8], [0.0, 0.1, 0.8, 1.0]])
    assert sorted(min_cut_groups(S, 2)) == [(0, 1), (2, 3)]
    assert min_cut_groups(S, 4) == [(0,), (1,), (2,), (3,)]


def test_sampling_uniform_over_operations_and_restricted_to_a_group() -> None:
    from nasforge.oneshot.methods import build_supernet

    sn = build_supernet(SPACE, TASK)
    sampler = PathSampler(sn, "uniform-op")
    rng = np.random.default_rng(0)
    ops = Counter()
    for _ in range(2_000):
        arch, w = sampler.sample(rng, {"1<-0": (1, 3)})
        assert w == 1.0 and sn.path_of(arch)["1<-0"] in (1, 3)
        ops[sn.path_of(arch)["3<-2"]] += 1
    assert min(ops.values()) > 330 and max(ops.values()) < 470  # 400 each expected


def test_pada_favours_candidates_with_large_gradients_and_reweights_them() -> None:
    from nasforge.oneshot.methods import build_supernet

    sn = build_supernet(SPACE, TASK)
    sampler = PathSampler(sn, "pada", floor=0.2)
    for _ in range(50):
        sampler.update({"1<-0": 1}, 10.0)
        sampler.update({"1<-0": 2}, 0.1)
    p = sampler.probabilities("1<-0")
    assert p[1] > 0.5 > p[2] and p.sum() == pytest.approx(1.0) and p.min() >= 0.2 / 5 - 1e-12
    rng = np.random.default_rng(0)
    picks, weights = Counter(), {}
    for _ in range(1_000):
        arch, w = sampler.sample(rng)
        i = sn.path_of(arch)["1<-0"]
        picks[i] += 1
        weights.setdefault(i, []).append(w)
    assert picks[1] > 400 and picks[2] < 150
    assert np.mean(weights[1]) < np.mean(weights[2])  # a frequently drawn path counts less per draw


@pytest.mark.parametrize("sampling", ["uniform-arch", "pada"])
def test_other_samplings_train(sampling: str) -> None:
    m = spos(sampling=sampling)
    trained = m.train()
    assert 0.0 <= trained.score(SPACE.sample(np.random.default_rng(0))) <= 100.0
    if sampling == "pada":  # parameter-free operations are estimated from their paths' gradients too
        skip = list(m.members[0].controller.decisions["1<-0"].options).index("skip_connect")
        assert any(m.sampler.norms[k][skip] != 1.0 for k in m.sampler.keys)
        assert all(np.all(v > 0) for v in m.sampler.norms.values())


def test_uniform_arch_sampling_counts_conditional_choices() -> None:
    space = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=16)
    values = [space.layout.sample_uniform(np.random.default_rng(i))["s0.depth"] for i in range(600)]
    # depth 2 has 18 times as many architectures as depth 1 (3 kernels x 3 expansions x SE on/off per block)
    assert 0.9 < np.mean(np.array(values) == 2) < 0.99


@pytest.mark.parametrize("space", [MLPSpace(widths=(4, 8), max_depth=2),
                                   MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)),
                                                  head_channels=16)], ids=["mlp", "mobilenet"])
def test_spos_and_fewshot_on_other_supernets(space) -> None:
    task = tiny_task(n=60, classes=3, image=space.name == "mobilenet")
    trained = FewShot(space, task, split="gm", child_epochs=1, epochs=1, batch_size=16, threads=1).train()
    arch = space.sample(np.random.default_rng(0))
    assert 0.0 <= trained.score(arch) <= 100.0 and 0 <= trained.member_of(arch) < len(trained)


def test_bad_options_are_named() -> None:
    with pytest.raises(ConfigError, match="sampling 'fair'"):
        spos(sampling="fair")
    with pytest.raises(ConfigError, match="groups must be 0"):
        FewShot(SPACE, TASK, groups=1)
    with pytest.raises(ConfigError, match="split_keys \\['nope'\\]"):
        FewShot(SPACE, TASK, split="fixed", split_keys=["nope"], **OPTS).train()
    with pytest.raises(Exception, match="strategy 'nope'"):
        spos(search_strategy="nope")


def test_checkpoint_resume_gives_the_uninterrupted_supernets(tmp_path) -> None:
    def run(ck, stop_after=None):
        m = FewShot(SPACE, TASK, split="fixed", child_epochs=2, **OPTS)
        seen = []

        def progress(info):
            seen.append(info)
            if stop_after is not None and len(seen) == stop_after:
                raise KeyboardInterrupt

        return m.train(checkpoint_dir=ck, progress=progress)

    whole = run(None)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "a", stop_after=5)  # 2 parent epochs, the split, 2 sub-supernet epochs
    m = FewShot(SPACE, TASK, split="fixed", child_epochs=2, **OPTS)
    with pytest.raises(ConfigError, match="exists"):
        m.train(checkpoint_dir=tmp_path / "a")
    resumed = m.train(checkpoint_dir=tmp_path / "a", resume=True)
    assert len(resumed) == len(whole) == 5
    assert all(states_equal(a, b) for a, b in zip(whole.members, resumed.members))
    with pytest.raises(ConfigError, match="another search"):
        FewShot(SPACE, TASK, split="fixed", child_epochs=3, **OPTS).train(checkpoint_dir=tmp_path / "a",
                                                                            resume=True)


def test_api_trains_searches_retrains_and_records(tmp_path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    lines = []
    out = api.oneshot("spos", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "ck",
                      method_options={**OPTS, "search_trials": 6, "retrain_epochs": 1}, progress=lines.append,
                      constraints="params <= 1e9")
    phases = Counter(i["phase"] for i in lines)
    assert phases["supernet"] == 2 and phases["search"] == 6 and phases["retrained"] == 1
    st = api.open_storage(db)
    trials = st.trials(out["study"])
    assert [t.source for t in trials] == ["ask"] * 6 + ["retrain"]
    best = max((t for t in trials if t.source == "ask"), key=lambda t: (t.value, -t.number))
    assert out["arch"] == best.arch and out["metrics"]["inherited_val_acc"] == best.value
    assert trials[-1].metrics["inherited_val_acc"] == best.value and "params" in trials[0].metrics
    info = st.get_study(out["study"])
    assert info.config["oneshot"]["method"] == "spos" and info.config["supernet"].endswith(SUPERNET_FILE)
    st.close()
    # resuming the finished run neither trains, searches nor retrains again
    again = api.oneshot("spos", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "ck", resume=True,
                        method_options={**OPTS, "search_trials": 6, "retrain_epochs": 1}, constraints="params <= 1e9")
    assert again["number"] == out["number"]
    assert len(api.open_storage(db).trials(out["study"])) == 7
    # the saved supernet scores as the trained one did, in any search
    loaded = load_supernet(tmp_path / "ck" / SUPERNET_FILE, task=TASK)
    assert loaded.score(SPACE.parse(best.arch)) == best.value
    st2 = api.search(supernet=tmp_path / "ck" / SUPERNET_FILE, task=TASK, strategy="random", n_trials=3,
                     storage=db)
    assert st2.name == "tiny-spos-nb201-random-s0" and len(st2.trials) == 3
    assert isinstance(st2.evaluator, SupernetEvaluator)


def test_search_with_a_supernet_refuses_what_it_brings_itself(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not a trained nasforge supernet|cannot read"):
        (tmp_path / "x.pt").write_bytes(b"junk")
        api.search(supernet=tmp_path / "x.pt")
    with pytest.raises(ConfigError, match="brings its own task and space"):
        api.search(supernet=tmp_path / "x.pt", space="nb201")
    with pytest.raises(ConfigError, match="objectives and constraints are for the methods"):
        api.oneshot("darts", task=TASK, space=SPACE, constraints="params <= 5", method_options=OPTS)


def test_cli_oneshot_spos_then_search_the_saved_supernet(tmp_path) -> None:
    import subprocess
    import sys

    db = f"sqlite:///{tmp_path}/c.db"
    base = [sys.executable, "-m", "nasforge.cli", "oneshot", "--method", "spos", "--task", "digits", "-P", "C=2",
            "-P", "N=1", "--epochs", "1", "--search-trials", "4", "--retrain-epochs", "1", "--threads", "1",
            "--storage", db, "--checkpoint-dir", str(tmp_path / "ck")]
    p = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "supernet epoch 1/1" in p.stderr and "search 4/4" in p.stderr and "retrained" in p.stderr
    assert "trained supernet saved to" in p.stdout and "nasforge search --supernet" in p.stdout
    # the error paths and the searches in-process (the real command line above is enough)
    from typer.testing import CliRunner

    from nasforge.cli import app

    def cli(*args: str):
        return CliRunner().invoke(app, list(args))

    bad = cli("oneshot", "--method", "spos", "--select", "pt")
    assert bad.exit_code == 2 and "--select: not an option of method 'spos'" in bad.output
    no_latency = cli("oneshot", "--method", "darts", "--hardware", "lut")
    assert no_latency.exit_code == 2 and "method 'darts' has no latency" in " ".join(no_latency.output.split())
    s = cli("search", "--supernet", str(tmp_path / "ck" / SUPERNET_FILE), "--trials", "3", "--storage", db, "--json",
            "--strategy", "random")
    assert s.exit_code == 0, s.output
    summary = json.loads(s.stdout)
    assert summary["trials"] == 3 and summary["study"] == "digits-spos-nb201-random-s0"
    # with a hardware model the sub-networks get a latency (here a lookup table, measured quickly)
    lut = cli("search", "--supernet", str(tmp_path / "ck" / SUPERNET_FILE), "--trials", "2", "--storage", db, "--json",
              "--strategy", "random", "--study", "lat", "--hardware", "lut", "-H", "calibration=1", "-H", "profile=0",
              "-H", "warmup=1", "-H", "repeats=3", "-H", f"cache={tmp_path}/lat.db", "-c", "latency_ms <= 1e6")
    assert lut.exit_code == 0, lut.output
    st = api.open_storage(db)
    assert all(t.metrics["latency_ms"] > 0 for t in st.trials("lat"))
    assert st.get_study("lat").config["evaluator"]["hardware"]["hardware"] == "lut"
    st.close()
    missing = cli("search", "--supernet", str(tmp_path / "nope.pt"))
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_the_search_step_reports_latency_and_is_constrained_by_it(tmp_path) -> None:
    from nasforge.testing import FakeLatencyTable

    table = FakeLatencyTable()
    trained = spos().train()
    ev = SupernetEvaluator(trained, hardware=table)
    ev.prepare()
    rng = np.random.default_rng(0)
    arch = SPACE.sample(rng)
    res = ev.evaluate(arch)
    weights = sum(p.numel() for m, _ in table.units_of(SPACE, arch, TASK) for p in m.parameters())
    assert res.metrics["latency_ms"] == pytest.approx(weights / 1000 + 0.25)  # the fake table's entries + constant
    assert "latency_ms" in ev.capabilities().metrics and ev.describe()["hardware"]["hardware"] == "lut"
    plain = SupernetEvaluator(trained)  # no hardware model: no latency, nothing measured
    assert "latency_ms" not in plain.evaluate(arch).metrics and "hardware" not in plain.describe()
    with pytest.raises(ConfigError, match="without a hardware model"):
        SupernetEvaluator(trained, hardware_options={"backend": "onnxruntime"})
    with pytest.raises(ConfigError, match="hardware_options .* without a hardware model"):
        spos(hardware_options={"threads": 1})
    with pytest.raises(UnknownNameError, match="unknown hardware model .lutt."):
        spos(hardware="lutt")
    # the search step of a method: constrained by latency
    bound = float(np.median([table.latency(SPACE, SPACE.sample(rng), TASK) for _ in range(20)]))
    out = api.oneshot("spos", task=TASK, space=SPACE, storage="memory:", checkpoint_dir=tmp_path / "ck",
                      method_options={**OPTS, "search_trials": 6, "retrain_epochs": 0, "hardware": table},
                      constraints=f"latency_ms <= {bound}")
    assert out["metrics"]["latency_ms"] <= bound


def test_registered_as_searching_methods() -> None:
    for name in ("spos", "fewshot", "bignas"):
        assert ONESHOT.get(name).searches and ONESHOT.get(name).name == name


# ----------------------------------------------------------------------------- BigNAS

MOBILE = MobileNetSpace(width_mult=0.25, max_depth=2, stages=((16, 1), (24, 2)), head_channels=16)


def test_sandwich_rule_trains_the_largest_and_the_smallest_every_step() -> None:
    from nasforge.oneshot.spos import BigNAS

    steps = []

    class Spy(BigNAS):
        def train_step(self, *args):
            out = super().train_step(*args)
            steps.append(list(self.last_step))
            return out

    m = Spy(MOBILE, TASK, n_random=2, **OPTS)
    trained = m.train()
    sn = trained.members[0]
    largest, smallest = MOBILE.key(sn.largest_arch()), MOBILE.key(sn.smallest_arch())
    assert len(steps) == 2 * (len(TASK.y_train) // 16)
    assert all(s[0] == largest and s[1] == smallest and len(s) == 4 for s in steps)
    assert len({s[2] for s in steps}) > 1  # the random ones vary
    assert largest != smallest and trained.kind == "elastic"


def test_bignas_searches_under_a_constraint_without_retraining(tmp_path) -> None:
    from nasforge.oneshot.elastic import ElasticMobileNetSupernet
    from nasforge.oneshot.methods import build_supernet

    sn = build_supernet(MOBILE, TASK, kind="elastic")
    assert isinstance(sn, ElasticMobileNetSupernet)
    from nasforge.evaluators.hardware import count_params

    small, large = (count_params(MOBILE.build(a, TASK)) for a in (sn.smallest_arch(), sn.largest_arch()))
    bound = (small + large) // 2
    out = api.oneshot("bignas", task=TASK, space=MOBILE, storage="memory:", checkpoint_dir=tmp_path / "ck",
                      method_options={**OPTS, "search_trials": 8}, constraints=f"params <= {bound}")
    assert out["number"] == out["best_search_trial"]  # used without retraining: no retrain trial
    assert out["metrics"]["params"] <= bound and out["metrics"]["members"] == 1
    loaded = load_supernet(tmp_path / "ck" / SUPERNET_FILE, task=TASK)
    assert loaded.kind == "elastic" and loaded.score(MOBILE.parse(out["arch"])) == out["val_acc"]


def test_bignas_needs_the_mobilenet_space() -> None:
    from nasforge.oneshot.spos import BigNAS

    with pytest.raises(ConfigError, match="bignas trains the elastic MobileNet supernet"):
        BigNAS(SPACE, TASK)
    with pytest.raises(ConfigError, match="sampling 'pada'"):
        BigNAS(MOBILE, TASK, sampling="pada")


def test_a_run_stopped_during_training_resumes_and_a_finished_study_is_not_overwritten(tmp_path) -> None:
    db = f"sqlite:///{tmp_path}/r.db"
    opts = {**OPTS, "search_trials": 3, "retrain_epochs": 0}

    def stop(info):
        if info["phase"] == "supernet" and info["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.oneshot("spos", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "ck", method_options=opts,
                    progress=stop)
    out = api.oneshot("spos", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "ck", resume=True,
                      method_options=opts)
    whole = api.oneshot("spos", task=TASK, space=SPACE, storage="memory:", method_options=opts)
    assert (out["arch"], out["val_acc"]) == (whole["arch"], whole["val_acc"])
    with pytest.raises(ConfigError, match="already exists"):
        api.oneshot("spos", task=TASK, space=SPACE, storage=db, checkpoint_dir=tmp_path / "other",
                    method_options=opts)


def test_few_shot_fine_tunes_its_sub_supernets_at_child_lr() -> None:
    info = []
    FewShot(SPACE, TASK, split="fixed", child_epochs=2, child_lr=0.01, **OPTS).train(progress=info.append)
    parent = [i["lr"] for i in info if i["phase"] == "supernet"]
    children = [i["lr"] for i in info if i["phase"] == "members"]
    assert parent[0] > 0.02 and len(children) == 10 and all(0 < lr <= 0.01 for lr in children)
    assert FewShot(SPACE, TASK).params()["child_lr"] == 0.05  # the parent's rate unless given
