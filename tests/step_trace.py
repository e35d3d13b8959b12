"""Record which steps of :mod:`observatoire.run.steps` a driver calls, in order (the conductor-order tests)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path


def install(record: Callable[[str], None], setattr_=setattr) -> None:
    """Wrap every function of ``steps.STEPS`` so that each call first records its name. The drivers look the
    steps up on the module at call time (``steps.build(...)``), so they call the wrappers."""
    from observatoire.run import steps

    for name in steps.STEPS:
        fn = getattr(steps, name)

        @functools.wraps(fn)
        def traced(*args, __fn=fn, __name=name, **kwargs):
            record(__name)
            return __fn(*args, **kwargs)

        setattr_(steps, name, traced)


def to_file(path: str | Path) -> None:
    """Append each step's name to ``path`` (one per line): works across the processes an orchestrator forks."""
    def record(name: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(name + "\n")

    install(record)


def order(trace: list[str]) -> list[str]:
    """The steps in the order of their first call."""
    return list(dict.fromkeys(trace))


def check(trace: list[str]) -> None:
    """The trace follows ``STEPS``: each step first called after the one before it, every source extracted and
    gated before the build, and nothing after finish."""
    from observatoire.run.steps import STEPS

    assert order(trace) == list(STEPS), trace
    last_load = max(i for i, s in enumerate(trace) if s in ("extract", "raw_gate"))
    assert last_load < trace.index("build"), trace
    assert trace[-1] == "finish" and trace.count("finish") == 1, trace
    assert trace.count("start") == 1, trace
