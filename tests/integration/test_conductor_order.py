"""One sequence for the whole run: ``observatoire run`` calls the steps of :mod:`observatoire.run.steps` in the
order ``STEPS`` says (the nightly DAG's side is checked by ``tests/dags/test_dag_run.py``, on a real
``dag.test()``)."""

from __future__ import annotations

import pytest

from observatoire.config import load_settings
from observatoire.errors import PipelineError
from observatoire.run import run
from tests import step_trace

pytestmark = pytest.mark.slow


def test_the_command_line_calls_every_step_in_order(demo_copy, monkeypatch):
    trace: list[str] = []
    step_trace.install(trace.append, monkeypatch.setattr)
    result = run(load_settings(), force=True)
    assert result.status == "published"
    step_trace.check(trace)
    # the référentiel's items are planned, extracted and gated before the other sources'
    assert trace[:3] == ["start", "plan", "plan"]


def test_an_unchanged_run_stops_after_build_and_a_failed_one_still_finishes(demo_copy, monkeypatch):
    trace: list[str] = []
    step_trace.install(trace.append, monkeypatch.setattr)
    assert run(load_settings()).status == "unchanged"
    assert step_trace.order(trace) == ["start", "plan", "extract", "raw_gate", "build", "finish"]

    trace.clear()
    from observatoire.run import building

    def broken_build(ctx, run_id):
        raise PipelineError("dbt", "simulated dbt failure")

    monkeypatch.setattr(building, "build", broken_build)
    with pytest.raises(PipelineError, match="simulated dbt failure"):
        run(load_settings(), force=True)
    assert step_trace.order(trace) == ["start", "plan", "extract", "raw_gate", "build", "finish"]
