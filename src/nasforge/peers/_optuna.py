"""Optuna samplers on a nasforge space: an in-memory study driven by ask/tell (imported lazily), with one
objective or, when the run has objectives, several (Optuna's multi-objective mode)."""

from __future__ import annotations

import warnings
from typing import Any, Hashable

import optuna
from optuna.trial import TrialState

from nasforge.peers import PeerRun

_PRIMITIVE = (type(None), bool, int, float, str)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "optuna-nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "optuna-random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"not an Optuna peer: {name!r}")


def _suggest(trial: optuna.Trial, choice: Any) -> Hashable:
    options = choice.options
    if all(isinstance(o, _PRIMITIVE) for o in options):
        return trial.suggest_categorical(choice.name, list(options))
    # Optuna persists only primitive categories: suggest the option's index instead
    return options[trial.suggest_categorical(choice.name, list(range(len(options))))]


def run(name: str, run: PeerRun, seed: int) -> None:
    old_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if run.objectives:  # Optuna's own multi-objective mode, in the objectives' directions
                directions = ["maximize" if o.sign > 0 else "minimize" for o in run.objectives]
                study = optuna.create_study(directions=directions, sampler=make_sampler(name, seed))
            else:
                study = optuna.create_study(direction="maximize", sampler=make_sampler(name, seed))
            while run.may_start():
                trial = study.ask()
                values: dict[str, Hashable] = {}
                layout = run.space.layout
                for choice in layout.choices:  # define-by-run: only active choices are suggested
                    if layout.is_active(choice, values):
                        values[choice.name] = _suggest(trial, choice)
                told = run.evaluate_objectives(values) if run.objectives else run.evaluate(values)
                if told is None:
                    study.tell(trial, state=TrialState.PRUNED)
                else:
                    study.tell(trial, told)
    finally:
        optuna.logging.set_verbosity(old_verbosity)
