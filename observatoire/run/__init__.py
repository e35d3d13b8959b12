"""The run, sequenced once: its steps (:mod:`observatoire.run.steps`) and the command line's conductor
(:mod:`observatoire.run.conductor`); the Airflow tasks (:mod:`observatoire.tasks`) call the same steps."""

from observatoire.run.conductor import run
from observatoire.run.steps import STEPS, RunRequest, RunResult

__all__ = ["STEPS", "RunRequest", "RunResult", "run"]
