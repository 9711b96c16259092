import numpy as np
import pytest

from nasforge.pareto import crowding_distance, dominates, non_dominated_sort, pareto_front, parse_objectives
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
