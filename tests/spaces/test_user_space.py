"""Search spaces written as plain PyTorch functions (define by run) and as nested dicts."""

from __future__ import annotations

import pickle
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn

from nasforge.registry import create_space
from nasforge.spaces.nb201 import NB201Space
from nasforge.spaces.user import SpaceDefinitionError, UserSpace, dict_space, normalise_options
from nasforge.testing import check_space, tiny_task, toy_space, toy_space_function

TASK = tiny_task()  # 6 features, 3 classes


def head(task, size=None):
    return nn.Linear(size or int(np.prod(task.input_shape)), task.num_classes)


def mlp(c, task):
    """Nested conditions: blocks exist by depth, a block's width only when it is a linear layer."""
    act = c.choice("act", [nn.ReLU, nn.Tanh])
    layers, size = [nn.Flatten()], int(np.prod(task.input_shape))
    for i in range(c.integer("depth", 1, 3)):
        if c.choice(f"block{i}", ["linear", "skip"]) == "linear":
            width = c.choice(f"block{i}.width", [4, 8])
            layers += [nn.Linear(size, width), act()]
            size = width
    return nn.Sequential(*layers, head(task, size))


def test_discovery_finds_the_layout_a_hand_written_space_has():
    us, ts = UserSpace(toy_space_function, name="toy-mobilenet", task=TASK), toy_space()
    assert us.choices == ts.choices and us.layout.size == ts.layout.size == 42336
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(30):
        a, b = us.sample(r1), ts.sample(r2)
        assert a.choices == b.choices and np.array_equal(us.encode(a), ts.encode(b))


def test_nested_conditions_and_the_space_contract():
    sp = UserSpace(mlp, task=TASK)
    when = {c.name: c.when for c in sp.choices}
    assert when["act"] is None and when["block0"] is None and when["block1"] == ("depth", (2, 3))
    assert when["block0.width"] == ("block0", ("linear",)) and when["block2.width"] == ("block2", ("linear",))
    assert dict(zip([c.name for c in sp.choices], [c.options for c in sp.choices]))["act"] == ("ReLU", "Tanh")
    check_space(sp, n=40)  # sampling, mutation, neighbours, crossover respect the conditions
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = sp.mutate(sp.sample(rng), rng)
        v = a.as_dict()
        assert all((f"block{i}" in v) == (v["depth"] > i) for i in range(3))
        assert all((f"block{i}.width" in v) == (v.get(f"block{i}") == "linear") for i in range(3))


def test_the_same_choices_give_the_same_module():
    sp = UserSpace(mlp, task=TASK)
    a = sp.make({"act": "Tanh", "depth": 2, "block0": "linear", "block0.width": 8, "block1": "skip"})
    torch.manual_seed(0)
    m1 = sp.build(a, TASK)
    torch.manual_seed(0)
    m2 = sp.build(a, TASK)
    assert str(m1) == str(m2) and isinstance(m1[2], nn.Tanh) and m1[1].out_features == 8
    assert all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert m1(torch.zeros(5, 6)).shape == (5, 3)


def test_module_instances_are_copied_for_every_network():
    shared = nn.Linear(6, 3)

    def fn(c, task):
        return nn.Sequential(nn.Flatten(), c.choice("layer", [shared]))

    sp = UserSpace(fn, task=TASK)
    a = sp.sample(np.random.default_rng(0))
    m1, m2 = sp.build(a, TASK), sp.build(a, TASK)
    assert m1[1] is not shared and m1[1].weight.data_ptr() != m2[1].weight.data_ptr()


def test_dict_space_nests_choices():
    spec = {"width": [4, 8], "block": {"linear": {"act": {"relu": nn.ReLU, "tanh": nn.Tanh}}, "skip": None}}
    seen = []

    def build(values, task):
        seen.append(values)
        layers = [nn.Flatten(), nn.Linear(6, values["width"])]
        if values["block"] == "linear":
            layers += [nn.Linear(values["width"], values["width"]), values["block.act"]()]
        return nn.Sequential(*layers, nn.Linear(values["width"], task.num_classes))

    sp = dict_space(spec, build, name="nested", task=TASK)
    assert [c.name for c in sp.choices] == ["width", "block", "block.act"]
    assert sp.layout.choice("block.act").when == ("block", ("linear",)) and sp.layout.size == 2 * (2 + 1)
    seen.clear()
    sp.build(sp.make({"width": 8, "block": "linear", "block.act": "tanh"}), TASK)
    assert seen == [{"width": 8, "block": "linear", "block.act": nn.Tanh}]


# -- errors that help ---------------------------------------------------------------------
def bad_twice(c, task):
    c.choice("k", [3, 5])
    c.choice("k", [3, 7])
    return nn.Sequential(nn.Flatten(), head(task))


def bad_changing(c, task):
    w = c.choice("width", [16, 32])
    c.choice("kernel", [3, 5] if w == 16 else [3, 7])
    return nn.Sequential(nn.Flatten(), head(task))


def bad_two_parents(c, task):
    a, b = c.boolean("a"), c.boolean("b")
    if a and b:
        c.choice("both", [1, 2])
    return nn.Sequential(nn.Flatten(), head(task))


def bad_always(c, task):
    c.choice("x", [1, 2])
    raise RuntimeError("this function never builds")


def bad_no_choice(c, task):
    return nn.Sequential(nn.Flatten(), head(task))


@pytest.mark.parametrize("fn,match", [
    (bad_twice, r"choice name 'k' is asked twice in one network with different options: \[3, 5\] and \[3, 7\]"),
    (bad_changing, r"the options of choice 'kernel' changed between runs: first \[3, 5\], now \[3, 7\]"),
    (bad_two_parents, r"choice 'both' is asked for in some runs .* no single earlier choice decides"),
    (bad_always, r"failed on every run .* RuntimeError: this function never builds"),
    (bad_no_choice, "asked for no choice"),
])
def test_definition_errors_name_the_problem(fn, match):
    with pytest.raises(SpaceDefinitionError, match=match):
        UserSpace(fn, task=TASK)


@pytest.mark.parametrize("options,match", [
    ([[1, 2], [3]], r"choice 'x': option \[1, 2\] has no label \(list\); .* Give the options as a dict"),
    ({"a,b": 1}, "label 'a,b' is not a number, string, boolean or None without ',' or '='"),
    ([nn.ReLU(), nn.ReLU()], "have the same label 'ReLU' twice"),
    ([], "choice 'x' has no options"),
    ({1, 2}, "options {1, 2} are a set"),
])
def test_option_errors(options, match):
    with pytest.raises(SpaceDefinitionError, match=match):
        normalise_options("x", options)


def test_labels_of_factories_and_plain_values():
    labels, values = normalise_options("x", [nn.ReLU, torch.relu, 3, np.int64(5), None])
    assert labels == ("ReLU", "relu", 3, 5, None) and values["ReLU"] is nn.ReLU and values[5] == 5


def fails_for_skip(c, task):
    if c.choice("op", ["linear", "broken"]) == "broken":
        raise ValueError("broken is not implemented")
    return nn.Sequential(nn.Flatten(), head(task))


def test_an_architecture_the_function_cannot_build_fails_its_trial_and_the_search_goes_on():
    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.registry import create_strategy
    from nasforge.study import Study

    sp = UserSpace(fails_for_skip, task=TASK)
    assert sp.layout.size == 2
    with pytest.raises(ValueError, match="broken is not implemented"):
        sp.build(sp.make({"op": "broken"}), TASK)
    ev = TrainingEvaluator(TASK, sp, epochs=1, device="cpu", measure_latency=False)
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev)
    st.optimize(n_trials=2)
    by_op = {r.arch: r for r in st.trials}
    assert by_op["op=broken"].status == "failed" and "broken is not implemented" in by_op["op=broken"].error
    assert by_op["op=linear"].status == "complete"


def test_a_network_that_does_not_fit_the_task_is_an_error():
    def wrong(c, task):
        return nn.Sequential(nn.Flatten(), nn.Linear(6, c.choice("out", [2, 3])))

    sp = UserSpace(wrong, task=TASK)
    assert sp.build(sp.make({"out": 3}), TASK)(torch.zeros(1, 6)).shape == (1, 3)
    with pytest.raises(SpaceDefinitionError, match=r"outputs \(2, 2\) .* needs \(2, 3\)"):
        sp.build(sp.make({"out": 2}), TASK)


# -- sources, pickling, resume ----------------------------------------------------------------
SOURCE = '''
import torch.nn as nn

def small(c, task):
    width = c.choice("width", [4, 8])
    act = c.choice("act", {"relu": nn.ReLU, "tanh": nn.Tanh})
    return nn.Sequential(nn.Flatten(), nn.Linear(6, width), act(), nn.Linear(width, task.num_classes))
'''


@pytest.fixture
def source(tmp_path):
    f = tmp_path / "my_space.py"
    f.write_text(textwrap.dedent(SOURCE))
    return f"{f}:small"


def test_a_space_from_a_file_is_recreated_from_its_source(source):
    sp = create_space(source, task=TASK)
    assert sp.name == "small" and sp.get_params()["source"] == source and sp.layout.size == 4
    again = create_space(sp.name, **sp.get_params())  # what a resumed or retrained study does
    assert again.choices == sp.choices
    clone = pickle.loads(pickle.dumps(sp))
    assert clone.choices == sp.choices and clone.build(clone.make({"width": 8, "act": "tanh"}), TASK)


def test_a_space_from_a_function_pickles_by_reference():
    sp = UserSpace(mlp, task=TASK)
    clone = pickle.loads(pickle.dumps(sp))
    assert clone.choices == sp.choices and clone.fn is mlp


@pytest.mark.parametrize("source,match", [
    ("no_colon", "expected FILE.py:FUNCTION or MODULE:FUNCTION"),
    ("/nonexistent/file.py:fn", "no such file"),
    ("nasforge.testing:no_such_function", "has no function 'no_such_function'"),
    ("not_a_module_xyz:fn", "cannot import module 'not_a_module_xyz'"),
])
def test_bad_sources(source, match):
    from nasforge.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        UserSpace(source)


# -- nothing is lost by going through the user path ----------------------------------------------
def nb201(c, task):
    """The built-in nb201 space (C=4, N=1) written as a user space."""
    from nasforge.spaces.nb201 import NB201_EDGES, NB201_OPS, edge_name
    from nasforge.spaces.nn import NB201Network

    ops = [c.choice(edge_name(t, f), NB201_OPS) for t, f in NB201_EDGES]
    return NB201Network(ops, 4, 1, task.input_shape[0], task.num_classes, NB201_EDGES)


def test_a_user_nb201_gives_the_builtin_results_for_the_same_seed():
    from nasforge import api

    task = tiny_task(image=True)
    user = UserSpace(nb201, task=task)
    assert user.choices == NB201Space().choices
    runs = {}
    for label, space in (("builtin", NB201Space(C=4, N=1)), ("user", user)):
        st = api.search(task=task, space=space, strategy="rea", strategy_options={"population_size": 3},
                        n_trials=5, seed=1, storage=None, training_options={"epochs": 1, "device": "cpu",
                                                                            "measure_latency": False})
        runs[label] = [(r.arch and space.parse(r.arch).choices, r.metrics["val_acc"],
                        space.encode(space.parse(r.arch)).tolist()) for r in st.trials]
    assert runs["builtin"] == runs["user"]


# -- weight sharing ------------------------------------------------------------------------------------
def cells(c, task):
    """A small CNN whose two layers each choose an operation (factories) and share one activation choice."""
    C = 4
    act = c.choice("act", [nn.ReLU, nn.Tanh])
    ops = {"conv3": lambda: nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)),
           "conv1": lambda: nn.Sequential(nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C)),
           "skip": nn.Identity, "pool": lambda: nn.AvgPool2d(3, 1, 1)}
    layers = [nn.Conv2d(task.input_shape[0], C, 3, padding=1), nn.BatchNorm2d(C), act()]
    for i in range(2):
        layers += [c.choice(f"op{i}", ops)(), act()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, task.num_classes))


def test_the_supernet_of_a_user_space_matches_the_stand_alone_network():
    from nasforge.oneshot.methods import build_supernet
    from nasforge.testing import check_supernet

    task = tiny_task(image=True)
    sp = UserSpace(cells, task=task)
    check_supernet(sp, task, n=4)
    sn = build_supernet(sp, task)
    d = {x.key: x for x in sn.decisions}
    assert d["op0"].param_free == ("skip", "pool") and d["act"].param_free == ("ReLU", "Tanh")
    assert sum(1 for m in sn.modules() if type(m).__name__ == "ChoiceOp" and m.key == "act") == 3  # shared


def test_a_user_space_with_plain_or_conditional_choices_has_no_supernet():
    from nasforge.errors import ConfigError
    from nasforge.oneshot.methods import build_supernet

    with pytest.raises(ConfigError, match=r"choice 'block0.width' .* exists only when 'block0' is one of \['linear'\]"):
        build_supernet(UserSpace(mlp, task=TASK), TASK)

    def widths(c, task):
        return nn.Sequential(nn.Flatten(), nn.Linear(6, c.choice("w", [4, 8])), nn.Linear(8, 3))

    with pytest.raises(ConfigError, match=r"choice 'w' of user space 'widths' chooses plain values \(4, 8\)"):
        build_supernet(UserSpace(widths, task=TASK, checks=0), TASK)


def test_weight_sharing_searches_a_user_space_end_to_end(tmp_path):
    from nasforge import api

    task = tiny_task(image=True)
    out = api.oneshot("spos", task=task, space=UserSpace(cells, task=task), storage=None,
                      checkpoint_dir=str(tmp_path / "ck"),
                      method_options={"epochs": 2, "threads": 1, "search_trials": 6, "retrain_epochs": 1})
    assert out["arch"] and 0.0 <= out["val_acc"] <= 100.0
    darts = api.oneshot("darts", task=task, space=UserSpace(cells, task=task), storage=None,
                        checkpoint_dir=str(tmp_path / "ck2"), method_options={"epochs": 1, "threads": 1,
                                                                              "select": "magnitude"})
    assert UserSpace(cells, task=task).parse(darts["arch"])


def test_proxies_hardware_models_and_export_work_on_a_user_space(tmp_path, source):
    from nasforge.evaluators.hardware import LatencyTable
    from nasforge.evaluators.zero_cost import compute_proxies, proxy_batch
    from nasforge.export import export_checkpoint, load_model, save_checkpoint
    from nasforge.testing import check_hardware_model

    sp = create_space(source, task=TASK)
    a = sp.make({"width": 8, "act": "relu"})
    scores, _, errors = compute_proxies(sp.build(a, TASK), proxy_batch("task", task=TASK, batch_size=16),
                                        ["synflow", "grad_norm", "params"])
    assert not errors and all(np.isfinite(v) for v in scores.values())
    assert scores["params"] == 6 * 8 + 8 + 8 * 3 + 3
    check_hardware_model(LatencyTable(calibration=2, profile=1, warmup=1, repeats=5), sp, TASK)
    ck = save_checkpoint(tmp_path / "ck", sp, a, TASK, sp.build(a, TASK))
    export_checkpoint(ck)
    assert isinstance(load_model(ck)[2], nn.ReLU)  # re-created from the file the space came from


TABULAR_ONLY = '''
import torch.nn as nn

def table(c, task):
    (features,) = task.input_shape          # works for tables only: the default (3, 32, 32) task fails
    width = c.choice("width", [4, 8])
    return nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, task.num_classes))
'''


def test_a_recorded_user_space_is_found_from_another_folder_with_its_task(tmp_path, monkeypatch):
    from nasforge.export import load_model, save_checkpoint

    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "table.py").write_text(textwrap.dedent(TABULAR_ONLY))
    monkeypatch.chdir(tmp_path)
    sp = create_space("spaces/table.py:table", task=TASK)
    assert sp.get_params()["source"] == f"{tmp_path / 'spaces' / 'table.py'}:table"  # made absolute
    with pytest.raises(SpaceDefinitionError, match="failed on every run"):
        UserSpace("spaces/table.py:table")  # without the task the function cannot run
    a = sp.make({"width": 8})
    ck = save_checkpoint(tmp_path / "ck", sp, a, TASK, sp.build(a, TASK))
    monkeypatch.chdir(tmp_path / "ck")
    model = load_model(ck)  # discovered again with the checkpoint's task shape, from another folder
    assert model(torch.zeros(2, 6)).shape == (2, 3)


def test_options_equal_in_python_are_an_error():
    with pytest.raises(SpaceDefinitionError, match="options 1 and True are equal in Python"):
        normalise_options("x", [1, True])
