"""The supernet of a user space: the space function run once with every candidate module in place.

A user space (:class:`~nasforge.spaces.user.UserSpace`) whose choices select between modules (like
NNI's ``LayerChoice``: options that are module instances, module classes or factory functions) has
a supernet for the weight-sharing methods, mixed (DARTS, GDAS, ProxylessNAS) and single-path (SPOS,
few-shot). It is built by running the space's own function with a :class:`SupernetChoices`: where
the function asks ``c.choice(name, options)`` and uses the answer as a module (an instance) or
calls it to make one (a class or factory, with the same arguments for every candidate), it gets a
:class:`~nasforge.oneshot.supernet.ChoiceOp` holding every candidate, all controlled by one
decision per choice. A choice asked at several places is one decision shared by all of them.

With one path selected the supernet computes exactly the stand-alone network of that architecture
(``space.build``), whose weights it holds under the same names plus ``ops.<index>`` at each place
of choice (:meth:`UserSupernet.map_key`); ``nasforge.testing.check_supernet`` checks this on user
spaces as on the built-in ones.

What cannot be a supernet (a clear error says which choice): a choice over plain values (a width, a
depth: the network's shape itself changes), and a conditional choice.
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping

import torch
from torch import nn

from nasforge.errors import ConfigError
from nasforge.oneshot.supernet import ChoiceOp, Controller, Decision, Supernet
from nasforge.spaces.base import Architecture
from nasforge.spaces.user import Choices, UserSpace, normalise_options

__all__ = ["SupernetChoices", "UserSupernet", "supernet_error"]


def _is_module_factory(value: Any) -> bool:
    return isinstance(value, nn.Module) or callable(value)


def supernet_error(space: UserSpace) -> str | None:
    """Why ``space`` has no supernet (its first choice that is conditional or not over modules), or None."""
    for c in space.choices:
        if c.when is not None:
            return (f"choice {c.name!r} of user space {space.name!r} exists only when {c.when[0]!r} is one of "
                    f"{list(c.when[1])}; a supernet needs every choice in every network (conditional choices "
                    f"cannot share weights)")
    return None


class _CandidateFactory:
    """What a factory-valued choice answers in a supernet: called like the factory, it returns one
    :class:`ChoiceOp` of every candidate made with the same arguments."""

    def __init__(self, key: str, factories: list[Any], controller: Controller, made: list[ChoiceOp]) -> None:
        self.key, self.factories, self.controller, self.made = key, factories, controller, made

    def __call__(self, *args: Any, **kwargs: Any) -> ChoiceOp:
        ops = []
        for label, make in self.factories:
            m = make(*args, **kwargs)
            if not isinstance(m, nn.Module):
                raise ConfigError(f"choice {self.key!r}: option {label!r} made {type(m).__name__}, not a "
                                  f"torch.nn.Module; a supernet needs options that are modules or make modules")
            ops.append(m)
        op = ChoiceOp(self.key, ops, self.controller)
        self.made.append(op)
        return op


class SupernetChoices(Choices):
    """The ``c`` a space function gets while its supernet is built: every module choice answers with all
    of its candidates (see the module's introduction)."""

    def __init__(self, space: UserSpace, controller: Controller) -> None:
        super().__init__(space, lambda name, labels: labels[0])
        self.controller = controller
        self.made: list[ChoiceOp] = []

    def choice(self, name: str, options: Any) -> Any:
        labels, values = normalise_options(name, options)
        self._space._check_labels(name, labels)
        if name not in self.controller.decisions:
            raise ConfigError(f"user space {self._space.name!r}: the function asked for choice {name!r} while its "
                              f"supernet was built, which was not found when its choices were discovered")
        self.asked[name] = labels[0]
        items = [(lab, values[lab]) for lab in labels]
        plain = [lab for lab, v in items if not _is_module_factory(v)]
        if plain:
            raise ConfigError(f"choice {name!r} of user space {self._space.name!r} chooses plain values "
                              f"({', '.join(map(repr, plain))}); a supernet needs choices between modules: options "
                              f"that are module instances, module classes or functions making modules (like NNI's "
                              f"LayerChoice). Search this space with --strategy instead of weight sharing")
        if all(isinstance(v, nn.Module) for _, v in items):
            import copy

            op = ChoiceOp(name, [copy.deepcopy(v) for _, v in items], self.controller)
            self.made.append(op)
            return op
        if any(isinstance(v, nn.Module) for _, v in items):
            raise ConfigError(f"choice {name!r} of user space {self._space.name!r} mixes module instances and "
                              f"factories; give all options as one or the other")
        return _CandidateFactory(name, items, self.controller, self.made)


class UserSupernet(Supernet):
    """The supernet of a :class:`~nasforge.spaces.user.UserSpace` for ``task`` (see the module's introduction).

    ``net`` is the space function's network with a :class:`ChoiceOp` at every place of choice; one
    :class:`~nasforge.oneshot.supernet.Decision` per choice, labelled by its options, with the
    parameter-free candidates (no weights: skip, pooling, activations) marked for the collapse guard.
    """

    def __init__(self, space: UserSpace, task: Any, seed: int = 0) -> None:
        super().__init__()
        why = supernet_error(space)
        if why is not None:
            raise ConfigError(why)
        self.space, self.task = space, task
        decisions = [Decision(c.name, tuple(str(o) for o in c.options)) for c in space.choices]
        ctl = self.make_controller(decisions, seed=seed)
        c = SupernetChoices(space, ctl)
        net = space.fn(c, task)
        if not isinstance(net, nn.Module):
            raise ConfigError(f"user space {space.name!r}: the function returned {type(net).__name__} while its "
                              f"supernet was built; it must return a torch.nn.Module")
        unused = [k for k in ctl.keys if not any(op.key == k for op in c.made)]
        if unused:
            raise ConfigError(f"user space {space.name!r}: choices {unused} were not used as modules while the "
                              f"supernet was built (a supernet needs every choice to put a module in the network)")
        self.net = net
        self.attach(ctl)
        # which candidates have no weights, from the first place of each decision
        first: dict[str, ChoiceOp] = {}
        for op in c.made:
            first.setdefault(op.key, op)
        for d in decisions:
            op = first[d.key]
            free = tuple(lab for lab, m in zip(d.options, op.ops) if next(m.parameters(), None) is None)
            ctl.decisions[d.key] = Decision(d.key, d.options, free)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def path_of(self, arch: Architecture) -> dict[str, int]:
        self.space.check(arch)
        return {name: self.space.layout.option_index(name, value) for name, value in arch.choices}

    def derive_from(self, chosen: Mapping[str, int], strength: Mapping[str, float] | None = None) -> Architecture:
        values: dict[str, Hashable] = {c.name: c.options[int(chosen[c.name])] for c in self.space.choices}
        return self.space.make(values)

    def map_key(self, arch: Architecture, path: Mapping[str, int], key: str) -> str:
        parts = key.split(".")
        module: nn.Module = self.net
        out = []
        for name in parts[:-1]:
            child = module._modules.get(name)
            if child is None:
                raise KeyError(f"the supernet of {self.space.name!r} has no module {'.'.join(out + [name])!r} for "
                               f"stand-alone weight {key!r}")
            out.append(name)
            if isinstance(child, ChoiceOp):
                idx = path[child.key]
                out += ["ops", str(idx)]
                child = child.ops[idx]
            module = child
        return "net." + ".".join(out + parts[-1:])
