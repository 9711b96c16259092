import numpy as np
import pytest

from nasforge.pareto import (crowding_distance, default_reference, dominates, hypervolume, non_dominated_sort,
                             pareto_front, parse_objectives)
from nasforge.results import TrialRecord


def test_parse_objectives():
    assert parse_objectives("val_acc:max, params:min") == [("val_acc", 1.0), ("params", -1.0)]
    assert parse_objectives(["x"]) == [("x", 1.0)]
    with pytest.raises(ValueError, match="malformed objective 'x:up'"):
        parse_objectives(["x:up"])
    with pytest.raises(ValueError, match="at least one"):
        parse_objectives("")


def brute_front(vals):
    return sorted(i for i in range(len(vals)) if not any(dominates(vals[j], vals[i]) for j in range(len(vals))))


@pytest.mark.parametrize("seed", range(5))
def test_non_dominated_sort_matches_brute_force(seed):
    vals = np.random.default_rng(seed).integers(0, 6, size=(40, 2)).astype(float)
    fronts = non_dominated_sort(vals)
    assert sorted(fronts[0]) == brute_front(vals)
    assert sorted(i for f in fronts for i in f) == list(range(40))
    for k in range(1, len(fronts)):  # every member of front k is dominated by some member of front k-1
        assert all(any(dominates(vals[j], vals[i]) for j in fronts[k - 1]) for i in fronts[k])


def test_crowding_distance():
    vals = np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]])
    d = crowding_distance(vals)
    assert np.isinf(d[0]) and np.isinf(d[3]) and d[1] == pytest.approx(3 / 4 + 3 / 4) and d[2] == pytest.approx(d[1])


def test_pareto_front_of_records():
    recs = [TrialRecord("s", i, f"a{i}", "complete", {"acc": acc, "params": p})
            for i, (acc, p) in enumerate([(90, 10), (95, 50), (92, 5), (89, 60), (95, 50)])]
    recs[4] = recs[4].with_(arch="a1")  # a duplicate trial of a1 appears once
    recs.append(TrialRecord("s", 9, "f", "failed"))
    front = pareto_front(recs, "acc:max,params:min")
    assert [r.arch for r in front] == ["a1", "a2"]


# -- hypervolume ---------------------------------------------------------------------------------

def test_hypervolume_2d_by_hand():
    # maximised, reference (0, 0): the boxes [0,1]x[0,5], [0,2]x[0,3], [0,4]x[0,1] form a staircase
    # x in [0,1]: height 5 -> 5;  x in [1,2]: height 3 -> 3;  x in [2,4]: height 1 -> 2;  total 10
    assert hypervolume([[1, 5], [2, 3], [4, 1]], [0, 0]) == pytest.approx(10.0)
    # the same points minimised after negation give the same volume
    assert hypervolume([[-1, -5], [-2, -3], [-4, -1]], [0, 0], ["min", "min"]) == pytest.approx(10.0)
    # accuracy maximised, latency minimised, reference (acc 0.5, latency 3):
    # (0.9, 2): 0.4 x 1 = 0.4;  (0.8, 1): 0.3 x 2 = 0.6;  shared [0.5,0.8] x [2,3] = 0.3;  0.4 + 0.6 - 0.3 = 0.7
    assert hypervolume([[0.9, 2.0], [0.8, 1.0]], [0.5, 3.0], ["max", "min"]) == pytest.approx(0.7)
    # (name, sign) pairs as parse_objectives gives them, and signs, mean the same
    assert hypervolume([[0.9, 2.0], [0.8, 1.0]], [0.5, 3.0], parse_objectives("a:max,b:min")) == pytest.approx(0.7)
    assert hypervolume([[0.9, 2.0], [0.8, 1.0]], [0.5, 3.0], [1, -1]) == pytest.approx(0.7)


def test_hypervolume_3d_by_hand():
    # boxes from 0 to (1,2,3), (3,2,1), (2,2,2): y in [0,2] for all; in the x-z plane the union is a
    # staircase x in [0,1]: z 3;  [1,2]: z 2;  [2,3]: z 1  -> area 6;  volume 6 x 2 = 12
    assert hypervolume([[1, 2, 3], [3, 2, 1], [2, 2, 2]], [0, 0, 0]) == pytest.approx(12.0)
    # (2,1,1), (1,2,1), (1,1,2): three boxes of 2, each pair shares the unit cube, as do all three:
    # inclusion-exclusion 3 x 2 - 3 x 1 + 1 = 4
    assert hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], [0, 0, 0]) == pytest.approx(4.0)
    # one objective minimised: (latency 1 below the reference 3) x 2 x 2 -> 8, with a second point inside it
    assert hypervolume([[2, 2, 1], [1, 1, 2]], [0, 0, 3], ["max", "max", "min"]) == pytest.approx(8.0)


def test_hypervolume_one_objective_and_empty():
    assert hypervolume([[3.0], [5.0]], [1.0]) == pytest.approx(4.0)
    assert hypervolume([[3.0], [5.0]], [6.0], ["min"]) == pytest.approx(3.0)
    assert hypervolume(np.zeros((0, 2)), [0, 0]) == 0.0
    assert hypervolume([], [0, 0]) == 0.0


def test_points_that_do_not_dominate_the_reference_add_nothing():
    base = [[1, 5], [2, 3], [4, 1]]
    # worse than the reference in one objective, on its boundary, or worse everywhere
    for extra in ([5, -1], [6, 0], [-1, -1], [0, 7]):
        assert hypervolume(base + [extra], [0, 0]) == pytest.approx(10.0)
    assert hypervolume([[-1, 3]], [0, 0]) == 0.0


@pytest.mark.parametrize("m", [2, 3, 4])
def test_hypervolume_ignores_dominated_points_and_duplicates(m):
    rng = np.random.default_rng(m)
    front = rng.random((15, m))
    hv = hypervolume(front, np.zeros(m))
    dominated = front[rng.integers(0, 15, 30)] * rng.uniform(0.2, 1.0, (30, m))  # each below some front point
    more = np.vstack([front, dominated, front[:5]])[rng.permutation(50)]
    assert hypervolume(more, np.zeros(m)) == pytest.approx(hv, rel=1e-12)


@pytest.mark.parametrize("m", [3, 4, 5])
def test_hypervolume_does_not_depend_on_the_order_of_objectives(m):
    pts = np.random.default_rng(10 + m).random((25, m))
    hv = hypervolume(pts, np.zeros(m))
    for perm in (np.arange(m)[::-1], np.roll(np.arange(m), 1)):
        assert hypervolume(pts[:, perm], np.zeros(m)) == pytest.approx(hv, rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_hypervolume_4d_agrees_with_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    x = rng.random((30, 4))
    pts = x / np.linalg.norm(x, axis=1, keepdims=True)  # on the unit sphere: mostly non-dominated
    signs = np.array([1, -1, 1, -1])
    values = pts * signs  # objectives 1 and 3 minimised
    ref = np.array([0.0, 0.0, 0.0, 0.0])
    exact = hypervolume(values, ref, ["max", "min", "max", "min"])
    n = 200_000
    u = rng.random((n, 4))  # uniform in the unit box [ref, 1] of the maximised form
    # a sample is dominated when some point is at least as large in every objective (in chunks, to bound memory)
    inside = np.concatenate([np.any(np.all(pts[None, :, :] >= c[:, None, :], axis=2), axis=1)
                             for c in np.split(u, 50)])
    p = inside.mean()
    se = np.sqrt(p * (1 - p) / n)
    assert abs(exact - p) < 4 * se + 1e-12, (exact, p, se)


def test_default_reference_is_the_worst_of_each_objective():
    pts = [[0.9, 2.0, 5.0], [0.7, 1.0, 9.0], [0.8, 3.0, 7.0]]
    assert default_reference(pts, ["max", "min", "max"]) == (0.7, 3.0, 5.0)
    with pytest.raises(ValueError, match="no points"):
        default_reference([], ["max"])


@pytest.mark.parametrize("args,match", [
    (([[1, 2]], [0, 0], ["max", "up"]), r"direction 1 is 'up'; accepted: 'max', 'min', \+1, -1"),
    (([[1, 2]], [0, 0], ["max"]), "1 directions .* for 2 objectives"),
    (([[1, 2, 3]], [0, 0]), r"points must be a \(n, 2\) array.*shape \(1, 3\)"),
    (([[1, np.nan]], [0, 0]), r"point 0 is \[1.0, nan\]"),
    (([[1, 2]], [0, np.inf]), "reference must be one finite number per objective"),
    (([[1, 2]], [0, 0], [1, 2]), "direction 1 is 2"),
])
def test_hypervolume_errors_name_the_bad_value(args, match):
    with pytest.raises(ValueError, match=match):
        hypervolume(*args)


# -- the Pareto set and hypervolume of a study ---------------------------------------------------
def _grid_study(objectives, constraints=None, storage=None, name="s"):
    from nasforge.evaluators.base import FunctionEvaluator
    from nasforge.registry import create_strategy
    from nasforge.spaces.base import SearchSpace, categorical
    from nasforge.study import Study

    sp = SearchSpace([categorical("a", range(5)), categorical("b", range(5))], name="grid")

    def fn(arch):  # accuracy and latency both grow with a; b adds noise-like accuracy
        a, b = arch["a"], arch["b"]
        return {"acc": float(a + (b * 7 % 5) / 10), "lat": float(1 + a + (b * 3 % 5) / 4), "size": float(b)}

    ev = FunctionEvaluator(fn, objective="acc", metrics=("acc", "lat", "size"))
    return Study(sp, create_strategy("random", sp, seed=0, replace=False), ev, name=name, storage=storage,
                 objectives=objectives, constraints=constraints)


def test_study_pareto_set_holds_only_non_dominated_feasible_points():
    st = _grid_study("acc:max,lat:min", constraints="size <= 3").optimize(n_trials=25)
    cands = [t for t in st.trials if t.feasible]
    front = st.pareto_set()
    assert front and all(t.feasible for t in front)

    def vec(t):
        return np.array([t.metrics["acc"], -t.metrics["lat"]])

    for t in front:  # no candidate dominates a member
        assert not any(dominates(vec(c), vec(t)) for c in cands)
    members = {t.arch for t in front}
    for c in cands:  # every other candidate is dominated by a member or ties one
        if c.arch not in members:
            assert any(dominates(vec(t), vec(c)) or np.array_equal(vec(t), vec(c)) for t in front)


def test_study_summary_reports_hypervolume_with_its_reference_point():
    st = _grid_study("acc:max,lat:min").optimize(n_trials=25)
    pts = np.array([[t.metrics["acc"], t.metrics["lat"]] for t in st.trials])
    s = st.summary()
    # the default reference: the lowest accuracy and the highest latency among the feasible trials
    assert s["reference_point"] == [pts[:, 0].min(), pts[:, 1].max()] and s["reference_kind"] == "worst"
    assert s["hypervolume"] == pytest.approx(hypervolume(pts, s["reference_point"], ["max", "min"]))
    given = st.summary(reference_point="0,10")
    assert given["reference_point"] == [0.0, 10.0] and given["reference_kind"] == "given"
    front = np.array([[t.metrics["acc"], t.metrics["lat"]] for t in st.pareto_set()])
    assert given["hypervolume"] == pytest.approx(hypervolume(front, [0, 10], ["max", "min"]))
    assert st.hypervolume([0, 10]) == {k: given[k] for k in ("hypervolume", "reference_point", "reference_kind")}
    with pytest.raises(ValueError, match=r"reference point '1,2,3': give 2 finite numbers.*acc:max, lat:min"):
        st.summary(reference_point="1,2,3")
    with pytest.raises(ValueError, match="reference point"):
        st.summary(reference_point=["x", 1])


def test_one_objective_has_no_hypervolume():
    st = _grid_study(None).optimize(n_trials=5)
    assert "hypervolume" not in st.summary()
    with pytest.raises(ValueError, match="this study has one"):
        st.summary(reference_point=[0])


def test_hypervolume_before_any_feasible_trial():
    st = _grid_study("acc:max,lat:min", constraints="size <= -1").optimize(n_trials=3)
    s = st.summary()
    assert s["hypervolume"] is None and s["reference_point"] is None
    assert st.summary(reference_point=[0, 10])["hypervolume"] == 0.0


def test_show_prints_hypervolume_and_reference_point(tmp_path):
    import json

    from typer.testing import CliRunner

    from nasforge import api
    from nasforge.cli import app

    url = f"sqlite:///{tmp_path / 'hv.db'}"
    st = _grid_study("acc:max,lat:min", storage=url, name="hv").optimize(n_trials=20)
    expected = st.summary()
    st.close()
    stored = api.summarise("hv", url, reference_point=[0, 10])
    assert stored["reference_point"] == [0.0, 10.0] and stored["hypervolume"] > 0
    runner = CliRunner()
    res = runner.invoke(app, ["show", "hv", "--storage", url])
    assert res.exit_code == 0, res.output
    ref = expected["reference_point"]
    assert f"hypervolume {expected['hypervolume']:.6g} (reference point acc={ref[0]:.6g}, lat={ref[1]:.6g}: the " \
           f"worst of each objective among the feasible trials)" in " ".join(res.stdout.split())
    res = runner.invoke(app, ["show", "hv", "--storage", url, "--reference-point", "0,10", "--json"])
    assert json.loads(res.stdout)["hypervolume"] == pytest.approx(stored["hypervolume"])
    res = runner.invoke(app, ["show", "hv", "--storage", url, "--reference-point", "0"])
    assert res.exit_code == 2 and "give 2 finite numbers" in res.output
