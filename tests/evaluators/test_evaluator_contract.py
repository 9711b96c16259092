"""Every registered evaluator and tabular benchmark passes nasforge.testing.check_evaluator."""

from __future__ import annotations

import pytest

from nasforge.evaluators.base import Capabilities, Evaluator, FidelityRange, FunctionEvaluator
from nasforge.registry import BENCHMARKS, EVALUATORS
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.testing import check_evaluator, tiny_task


def small_space() -> SearchSpace:
    return SearchSpace([categorical("a", range(3)), categorical("b", range(3))], name="ab")


def make_evaluator(name: str):
    from nasforge.spaces.mlp import MLPSpace
    from nasforge.spaces.nb201 import NB201Space

    if name == "training":
        sp = MLPSpace()
        return EVALUATORS.create("training", tiny_task(), sp, epochs=2, batch_size=32, measure_latency=True), sp
    if name == "hardware":
        sp = NB201Space(C=4, N=1)
        return EVALUATORS.create("hardware", sp, (3, 8, 8), 10, repeats=3, warmup=1), sp
    if name == "function":
        sp = small_space()
        return EVALUATORS.create("function", lambda a: {"score": float(a["a"]), "b": float(a["b"])},
                                 objective="score", metrics=("score", "b")), sp
    if name == "supernet":
        from nasforge.oneshot.spos import SPOS

        sp = NB201Space(C=2, N=1)
        trained = SPOS(sp, tiny_task(n=60, image=True), epochs=1, batch_size=16, threads=1).train()
        return EVALUATORS.create("supernet", trained), sp
    raise AssertionError(f"no test setup for evaluator {name!r}: add one here")


@pytest.mark.parametrize("name", EVALUATORS.list())
def test_registered_evaluator_passes_the_contract(name):
    ev, sp = make_evaluator(name)
    check_evaluator(ev, sp)


@pytest.mark.parametrize("name", BENCHMARKS.list())
def test_registered_benchmark_passes_the_contract(name, fake_data_dir):
    try:
        bench = BENCHMARKS.create(name, **({"data_dir": str(fake_data_dir)} if name == "nb201" else {}))
        bench.prepare()
    except FileNotFoundError as exc:  # a benchmark package that is not installed
        pytest.skip(str(exc))
    check_evaluator(bench, bench.space)


class Liar(Evaluator):
    """Declares a metric and a cost it does not report."""

    objective = report = "score"

    def capabilities(self):
        return Capabilities(FidelityRange("epochs", 1, 3, 3), True, ("score", "latency_ms"))

    def evaluate(self, arch, fidelity=None):
        return Result({"score": 1.0}, 1.0, cost=1.0, fidelity=fidelity)


def test_check_evaluator_catches_a_missing_declared_metric():
    with pytest.raises(AssertionError, match=r"Liar: declared metrics: \['latency_ms'\] missing"):
        check_evaluator(Liar(), small_space())


def test_check_evaluator_catches_a_wrong_value():
    ev = FunctionEvaluator(lambda a: 1.0)
    ev.evaluate = lambda arch, fidelity=None: Result({"objective": 2.0}, 1.0)
    with pytest.raises(AssertionError, match="value"):
        check_evaluator(ev, small_space())
