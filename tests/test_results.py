import math

import pytest

from nasforge.results import Result, TrialRecord


def test_complete_result_needs_finite_objective():
    with pytest.raises(ValueError, match="finite objective"):
        Result(metrics={"a": 1.0}, value=None)
    with pytest.raises(ValueError, match="finite objective"):
        Result(metrics={}, value=math.nan)


def test_cost_must_be_non_negative():
    with pytest.raises(ValueError, match="cost"):
        Result(value=1.0, cost=-1.0)


def test_failure_and_record_round_trip():
    r = Result.failure("diverged", cost=2.0)
    assert not r.ok and r.error == "diverged" and r.value is None
    rec = TrialRecord("s", 3, "x", r.status, r.metrics, r.value, r.cost, error=r.error)
    assert rec.result() == r
    with pytest.raises(ValueError, match="unknown trial status 'weird'"):
        TrialRecord("s", 0, "x", "weird")
    with pytest.raises(ValueError, match="no result"):
        TrialRecord("s", 0, "x", "running").result()
