"""How a run stops: :class:`PipelineError` (a run stopped, at a stage) and :class:`RunRequestError` (what it was asked
cannot be done). Below every module of the run, so that any of them can raise these without importing the run."""

from __future__ import annotations

from pathlib import Path


class PipelineError(RuntimeError):
    """A run stopped: ``stage`` says where, the message says what and where the details are."""

    def __init__(self, stage: str, message: str, *, run_id: str | None = None, details_path: Path | None = None,
                 console: str | None = None):
        self.stage = stage
        self.run_id = run_id
        self.details_path = details_path
        self.console = console  # the short text for a terminal (hosts, not URLs); None: the message itself
        super().__init__(message)


class RunRequestError(ValueError):
    """What a run was asked to do cannot be done (unknown source, millésime no selected source has): a usage
    error, found before the run starts (nothing recorded, nothing touched)."""
