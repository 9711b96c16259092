import pytest

from nasforge.registry import (BENCHMARKS, Registry, UnknownNameError, create_benchmark, create_space,
                               create_strategy, list_benchmarks, list_spaces, list_strategies)


def test_builtins_listed():
    assert {"nb201", "nasbench-graph"} <= set(list_spaces())
    assert {"random", "rea", "local"} <= set(list_strategies())
    assert {"nb201", "analog-nb201", "nasbench-graph"} <= set(list_benchmarks())
    matched = list_strategies("r*")
    assert {"random", "rea"} <= set(matched) and all(n.startswith("r") for n in matched) and "local" not in matched


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(UnknownNameError) as exc:
        create_strategy("rae", create_space("nb201"))
    msg = str(exc.value)
    assert "unknown strategy 'rae'" in msg and "did you mean 'rea'" in msg and "random" in msg
    with pytest.raises(ValueError, match="unknown benchmark 'nope'"):
        create_benchmark("nope")


def test_lazy_registration_and_decorator():
    reg: Registry = Registry("widget")
    reg.register("path", "collections:OrderedDict")
    assert reg.create("path", a=1) == {"a": 1}

    @reg.register("deco")
    def make(x=1):
        return x * 2

    assert reg.create("deco", x=4) == 8
    assert reg.list() == ["deco", "path"]
    assert "deco" in reg and "nb201" in BENCHMARKS
