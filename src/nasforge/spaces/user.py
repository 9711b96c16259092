"""Search spaces written as plain PyTorch: a function that asks for its decisions, or a nested dict.

A user writes an ordinary function that builds a ``torch.nn.Module`` and asks a
:class:`Choices` object for each decision::

    def my_space(c, task):
        width = c.choice("width", [16, 32, 64])
        depth = c.integer("depth", 1, 4)
        act = c.choice("act", {"relu": nn.ReLU, "gelu": nn.GELU})        # labels -> module factories
        layers, size = [nn.Flatten()], int(np.prod(task.input_shape))
        for i in range(depth):                                            # block{i} exists when depth > i
            kind = c.choice(f"block{i}", ["linear", "skip"])
            if kind == "linear":
                layers += [nn.Linear(size, width), act()]
                size = width
        return nn.Sequential(*layers, nn.Linear(size, task.num_classes))

    space = UserSpace(my_space)           # or: nasforge search --space my_file.py:my_space --task ...

:class:`UserSpace` turns it into a :class:`~nasforge.spaces.base.SearchSpace`: it **discovers**
the choices by running the function (on PyTorch's ``meta`` device when it can, so no weights are
made): once with every choice at its first option, then varying each choice in turn while keeping
the choices asked before it (which reveals choices that exist only for some values, such as
``block3`` under ``depth``, or a kernel size only for convolutions), then ``probes`` runs with
random options. A choice that is not asked in every run becomes *conditional* on the one earlier
choice whose values decide it (``when=(parent, values)`` of the layout, nested to any depth); the
layout is then checked on sampled architectures. After that it is a space like the built-in ones:
every strategy, encoding, proxy, hardware model, report and export works on it, and
``space.build(arch, task)`` replays the function with the architecture's values.

Options of a choice may be numbers, strings, booleans or None (the values themselves), a ``range``,
a dict ``{label: value}`` (any values: modules, module factories, configurations), or a list of
module classes, factory functions or module instances (labelled by their names; an instance is
copied for every network so no two networks share weights). Errors name what is wrong: a choice
name asked twice with different options, options that change between runs, an option that is not
a plain value and has no label, a choice whose existence depends on more than one earlier choice,
a network whose output does not fit the task. A function that raises for some architectures is
allowed: building such an architecture raises the function's exception, and a search records that
trial as failed with it and goes on.

:func:`dict_space` is the declarative form: a nested dict of choices and a function building the
network from the chosen values.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.spaces.base import Architecture, Choice, SearchSpace

#: option values that are their own labels
PLAIN = (bool, int, float, str, type(None))


class SpaceDefinitionError(ConfigError):
    """The space function (or dict) breaks a rule of define-by-run spaces; the message says which."""


def _label_ok(label: Any) -> bool:
    if not isinstance(label, PLAIN) or (isinstance(label, float) and not math.isfinite(label)):
        return False
    text = str(label)
    return "," not in text and "=" not in text and text.strip() == text and text != ""


def _name_of(option: Any) -> str | None:
    """The label of a module class, factory function or module instance."""
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover - torch is a dependency
        nn = None  # type: ignore[assignment]
    if nn is not None and isinstance(option, nn.Module):
        return type(option).__name__
    name = getattr(option, "__name__", None)
    if callable(option) and isinstance(name, str) and name != "<lambda>":
        return name
    return None


def normalise_options(name: str, options: Any) -> tuple[tuple[Hashable, ...], dict[Hashable, Any]]:
    """``(labels, label -> value)`` of a choice's options, or a :class:`SpaceDefinitionError` that
    names the choice and the bad option and says what is accepted."""
    if not isinstance(name, str) or not name or not _label_ok(name):
        raise SpaceDefinitionError(f"choice name {name!r}: give a non-empty string without ',' or '='")
    accepted = ("options are numbers, strings, booleans or None; a range; a dict {label: value} (values may be "
                "modules, factories or anything else); or a list of module classes, factory functions or "
                "module instances")
    if isinstance(options, Mapping):
        pairs = list(options.items())
        for label, _ in pairs:
            if not _label_ok(label):
                raise SpaceDefinitionError(f"choice {name!r}: label {label!r} is not a number, string, boolean or "
                                           f"None without ',' or '='")
    elif isinstance(options, (list, tuple, range)):
        pairs = []
        for o in options:
            if isinstance(o, np.generic):  # numpy scalars are plain numbers
                o = o.item()
            if _label_ok(o):
                pairs.append((o, o))
                continue
            label = _name_of(o)
            if label is None:
                raise SpaceDefinitionError(f"choice {name!r}: option {o!r} has no label ({type(o).__name__}); "
                                           f"{accepted}. Give the options as a dict, e.g. "
                                           f"{{'a': ..., 'b': ...}}")
            pairs.append((label, o))
    else:
        raise SpaceDefinitionError(f"choice {name!r}: options {options!r} are a {type(options).__name__}; {accepted}")
    if not pairs:
        raise SpaceDefinitionError(f"choice {name!r} has no options")
    labels = [p[0] for p in pairs]
    texts = [str(x) for x in labels]
    dup = sorted({t for t in texts if texts.count(t) > 1})
    if dup:
        raise SpaceDefinitionError(f"choice {name!r}: options {labels} have the same label {dup[0]!r} twice; give "
                                   f"them as a dict of distinct labels, e.g. {{'{dup[0]}_a': ..., '{dup[0]}_b': ...}}")
    same = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:] if a == b]
    if same:
        raise SpaceDefinitionError(f"choice {name!r}: options {same[0][0]!r} and {same[0][1]!r} are equal in Python "
                                   f"(1 == True, 0 == 0.0); give them as a dict of distinct labels")
    return tuple(labels), dict(pairs)


class Choices:
    """What a space function receives: ask it for each decision; it answers with the option to use.

    ``choice(name, options)`` returns one of ``options`` (for a dict, the value of the chosen label; a
    module instance is returned as a fresh copy); ``integer(name, low, high)`` an int in
    ``[low, high]``; ``boolean(name)`` False or True. Asking for the same name again with the same
    options returns the same answer (a decision shared by several places); with other options it is
    an error.
    """

    def __init__(self, space: "UserSpace", pick: Callable[[str, tuple[Hashable, ...]], Hashable]) -> None:
        self._space, self._pick = space, pick
        #: the decisions asked for in this run, in order: name -> label
        self.asked: dict[str, Hashable] = {}
        self._labels: dict[str, tuple[Hashable, ...]] = {}

    def choice(self, name: str, options: Any) -> Any:
        labels, values = normalise_options(name, options)
        if name in self._labels:
            if self._labels[name] != labels:
                raise SpaceDefinitionError(f"choice name {name!r} is asked twice in one network with different "
                                           f"options: {list(self._labels[name])} and {list(labels)}; give each "
                                           f"decision its own name")
        else:
            self._space._check_labels(name, labels)
            self._labels[name] = labels
            self.asked[name] = self._pick(name, labels)
        value = values[self.asked[name]]
        return copy.deepcopy(value) if _is_module(value) else value

    def integer(self, name: str, low: int, high: int) -> int:
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise SpaceDefinitionError(f"integer choice {name!r}: {what} must be an integer, got {v!r}")
        if high < low:
            raise SpaceDefinitionError(f"integer choice {name!r}: high {high} < low {low}")
        return int(self.choice(name, range(int(low), int(high) + 1)))

    def boolean(self, name: str) -> bool:
        return bool(self.choice(name, [False, True]))


def _is_module(value: Any) -> bool:
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, nn.Module)


@contextmanager
def _meta_device(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    import torch

    with torch.device("meta"):
        yield


def load_function(source: str) -> Callable[..., Any]:
    """The function named by ``source``: ``path/to/file.py:name`` or ``package.module:name``."""
    path, sep, attr = str(source).rpartition(":")
    if not sep or not path or not attr:
        raise ConfigError(f"space source {source!r}: expected FILE.py:FUNCTION or MODULE:FUNCTION, e.g. "
                          f"examples/cnn_space.py:cnn_space")
    if path.endswith(".py") or os.sep in path or "/" in path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"space source {source!r}: no such file {str(file)!r}")
        digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:10]
        mod_name = f"nasforge_user_space_{file.stem}_{digest}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, file)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
                raise ConfigError(f"space source {source!r}: cannot load {file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module  # so the function pickles by reference in this process
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ConfigError(f"space source {source!r}: importing {file} failed: {type(exc).__name__}: "
                                  f"{exc}") from exc
    else:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ConfigError(f"space source {source!r}: cannot import module {path!r} ({exc})") from exc
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        known = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ConfigError(f"space source {source!r}: {path} has no function {attr!r}; its functions: "
                          f"{', '.join(known) or '(none)'}")
    return fn


def absolute_source(source: str) -> str:
    """``source`` with its file made absolute (``FILE.py:NAME``; a ``MODULE:NAME`` is left as it is), so a
    study recorded in one folder re-creates its space from any other."""
    path, sep, attr = str(source).rpartition(":")
    if sep and (path.endswith(".py") or os.sep in path or "/" in path) and Path(path).expanduser().is_file():
        return f"{Path(path).expanduser().resolve()}:{attr}"
    return str(source)


def _default_task() -> Any:
    from nasforge.data.task import Task

    return Task.shape_only("discovery", (3, 32, 32), 10)


class UserSpace(SearchSpace):
    """A search space defined by running a function (see the module's introduction).

    ``fn`` is the function ``fn(c, task) -> nn.Module`` or its source (``FILE.py:NAME`` or
    ``MODULE:NAME``; a space given by its source is re-created from it in worker processes and when
    a study is resumed, retrained or exported). ``task`` is what the function is run with while
    choices are discovered (default: 3x32x32 images of 10 classes; give the task you will search
    when the function depends on it); ``probes`` random runs and ``checks`` sampled architectures
    verify the discovered layout (``seed`` fixes them). ``name`` defaults to the function's name.
    """

    def __init__(self, fn: Callable[..., Any] | str, name: str | None = None, task: Any = None,
                 probes: int = 32, checks: int = 8, seed: int = 0) -> None:
        from nasforge.options import check_int

        self.source = absolute_source(fn) if isinstance(fn, str) else None
        self.fn = load_function(fn) if isinstance(fn, str) else fn
        if not callable(self.fn):
            raise ConfigError(f"a user space needs a function fn(c, task) -> nn.Module or its source "
                              f"'FILE.py:NAME'; got {fn!r}")
        self.probes = check_int("probes", probes, minimum=0, who="UserSpace")
        self.checks = check_int("checks", checks, minimum=0, who="UserSpace")
        self.seed = check_int("seed", seed, minimum=0, who="UserSpace")
        self.task = task
        self._known: dict[str, tuple[Hashable, ...]] = {}
        self._meta = True
        space_name = name or getattr(self.fn, "__name__", None) or "user"
        super().__init__(self._discover(task if task is not None else _default_task()), name=space_name)
        self._verify(task if task is not None else _default_task())

    # -- consistency across runs ------------------------------------------------------
    def _check_labels(self, name: str, labels: tuple[Hashable, ...]) -> None:
        known = self._known.get(name)
        if known is None:
            self._known[name] = labels
        elif known != labels:
            raise SpaceDefinitionError(f"the options of choice {name!r} changed between runs: first {list(known)}, "
                                       f"now {list(labels)}; a space function must ask for the same options every "
                                       f"time (options may not depend on other choices: use another choice name)")

    # -- running the function ---------------------------------------------------------------
    def _run(self, pick: Callable[[str, tuple[Hashable, ...]], Hashable], task: Any,
             meta: bool) -> tuple[Choices, Any, BaseException | None]:
        c = Choices(self, pick)
        try:
            with _meta_device(meta):
                out = self.fn(c, task)
        except SpaceDefinitionError:
            raise
        except Exception as exc:  # the function fails for these choices
            return c, None, exc
        return c, out, None

    def _run_discovery(self, pick: Callable[[str, tuple[Hashable, ...]], Hashable],
                       task: Any) -> tuple[Choices, BaseException | None]:
        """A run while the choices are discovered or checked: on the meta device while the function works
        there; when it fails there, again with real tensors, and if that works, real tensors from then on."""
        c, _, exc = self._run(pick, task, self._meta)
        if exc is not None and self._meta:
            c, _, exc = self._run(pick, task, False)
            self._meta = exc is not None  # the function needs real tensors: use them for every later run
        return c, exc

    def _probe(self, assign: Mapping[str, Hashable], task: Any,
               rng: np.random.Generator | None) -> tuple[dict[str, Hashable], BaseException | None]:
        def pick(name: str, labels: tuple[Hashable, ...]) -> Hashable:
            if name in assign and assign[name] in labels:
                return assign[name]
            return labels[int(rng.integers(len(labels)))] if rng is not None else labels[0]

        c, exc = self._run_discovery(pick, task)
        return c.asked, exc

    def _discover(self, task: Any) -> list[Choice]:
        runs: list[tuple[dict[str, Hashable], bool]] = []
        order: list[str] = []
        revealed_by: dict[str, dict[str, Hashable]] = {}
        first_error: list[BaseException] = []

        def record(asked: dict[str, Hashable], exc: BaseException | None) -> list[str]:
            runs.append((asked, exc is None))
            if exc is not None and not first_error:
                first_error.append(exc)
            new = [n for n in asked if n not in revealed_by]
            for n in new:
                revealed_by[n] = asked
                order.append(n)
            return new

        queue = record(*self._probe({}, task, None))
        while queue:
            x = queue.pop(0)
            base = revealed_by[x]
            prefix = {}
            for n, v in base.items():
                if n == x:
                    break
                prefix[n] = v
            for label in self._known[x]:
                if label != base[x]:
                    queue += record(*self._probe({**prefix, x: label}, task, None))
        rng = np.random.default_rng(self.seed)
        for _ in range(self.probes):
            record(*self._probe({}, task, rng))
        if not any(ok for _, ok in runs):
            exc = first_error[0]
            raise SpaceDefinitionError(f"the space function {getattr(self.fn, '__name__', self.fn)!r} failed on "
                                       f"every run while its choices were discovered: {type(exc).__name__}: {exc} "
                                       f"(task {getattr(task, 'name', '?')!r} with input shape "
                                       f"{tuple(getattr(task, 'input_shape', ()))}: give UserSpace(..., task=) "
                                       f"the task you search when the function needs it)") from exc
        if not order:
            raise SpaceDefinitionError(f"the space function {getattr(self.fn, '__name__', self.fn)!r} asked for no "
                                       f"choice: call c.choice(name, options) for each decision")
        order = _asking_order(order, [a for a, _ in runs])
        inferred: dict[str, Choice] = {}
        for i, d in enumerate(order):
            inferred[d] = self._infer(i, d, order, runs, inferred)
        return list(inferred.values())

    def _infer(self, i: int, d: str, order: list[str], runs: list[tuple[dict[str, Hashable], bool]],
               inferred: Mapping[str, Choice]) -> Choice:
        labels = self._known[d]
        complete = [a for a, ok in runs if ok]
        # unconditional: asked in every complete run, and in every failed run that got past it
        if all(d in a for a, ok in runs if ok or _consistent_prefix(a, d, order)):
            return Choice(d, labels)
        for p in reversed(order[:i]):
            with_d = [a for a, _ in runs if d in a]
            if any(p not in a for a in with_d):
                continue
            values = {a[p] for a in with_d}
            # complete runs: d asked exactly when p is asked with one of those values; failed runs (which
            # stop early) only when d was asked
            if all((d in a) == (p in a and a[p] in values) for a in complete):
                ordered = tuple(v for v in self._known[p] if v in values)
                if len(ordered) == len(self._known[p]):  # asked whenever p is: p's own condition is d's
                    return Choice(d, labels, when=inferred[p].when)
                return Choice(d, labels, when=(p, ordered))
        seen = [a for a in complete if d in a][:1]
        unseen = [a for a in complete if d not in a][:1]
        raise SpaceDefinitionError(
            f"choice {d!r} is asked for in some runs of the space function and not in others, and no single earlier "
            f"choice decides which (e.g. asked with {seen[0] if seen else '?'}, not with "
            f"{unseen[0] if unseen else '?'}); nasforge needs each conditional choice to depend on the value of one "
            f"earlier choice (ask it inside an `if` on that choice, or give it its own unconditional choice)")

    def _verify(self, task: Any) -> None:
        """Replay ``checks`` sampled architectures: the function must ask for exactly their active choices."""
        rng = np.random.default_rng(self.seed + 1)
        for _ in range(self.checks):
            arch = self.sample(rng)
            c, exc = self._run_discovery(self._replay_pick(arch), task)
            self._check_asked(arch, c, exc)

    # -- building ---------------------------------------------------------------------------
    def _replay_pick(self, arch: Architecture) -> Callable[[str, tuple[Hashable, ...]], Hashable]:
        values = arch.as_dict()

        def pick(name: str, labels: tuple[Hashable, ...]) -> Hashable:
            if name not in self.layout:
                raise SpaceDefinitionError(f"space {self.name!r}: the function asked for choice {name!r}, which was "
                                           f"not found when its choices were discovered (known: "
                                           f"{', '.join(self.layout.names)}); it must ask for the same choices "
                                           f"for the same values every time")
            if name not in values:
                raise SpaceDefinitionError(f"space {self.name!r}: building {self.to_string(arch)} the function asked "
                                           f"for choice {name!r}, which the discovered layout says is inactive for "
                                           f"these values; the function's choices must depend only on earlier "
                                           f"choices")
            return values[name]

        return pick

    def _check_asked(self, arch: Architecture, c: Choices, exc: BaseException | None) -> None:
        missing = [n for n in arch.as_dict() if n not in c.asked]
        if missing and exc is None:
            raise SpaceDefinitionError(f"space {self.name!r}: building {self.to_string(arch)} the function did not "
                                       f"ask for {', '.join(map(repr, missing))}, which the discovered layout says "
                                       f"are active; the function's choices must depend only on earlier choices")

    def build(self, arch: Architecture, task: Any) -> Any:
        """Run the function with ``arch``'s values and return its module (checked to fit ``task``)."""
        self.check(arch)
        c, model, exc = self._run(self._replay_pick(arch), task, meta=False)
        if exc is not None:
            raise exc
        self._check_asked(arch, c, None)
        check_output(self.name, self.to_string(arch), model, task)
        return model

    # -- records --------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {"source": self.source, "probes": self.probes, "checks": self.checks, "seed": self.seed}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": self.source}

    def __reduce__(self) -> tuple[Any, ...]:
        if self.source is not None:  # re-created from its file in another process
            return (_restore, (self.source, self.name, self.probes, self.checks, self.seed, self.choices))
        return (_restore_fn, (self.fn, self.name, self.probes, self.checks, self.seed, self.choices))


def _asking_order(first_seen: list[str], runs: Sequence[Mapping[str, Hashable]]) -> list[str]:
    """The choices in the order the function asks for them: every run's order respected (a topological
    order of "asked before" over all runs), ties broken by first appearance; first appearance alone
    when runs disagree."""
    rank = {n: i for i, n in enumerate(first_seen)}
    after: dict[str, set[str]] = {n: set() for n in first_seen}
    for asked in runs:
        names = list(asked)
        for a, b in zip(names, names[1:]):
            after[a].add(b)
    indegree = {n: 0 for n in first_seen}
    for a in after:
        for b in after[a]:
            indegree[b] += 1
    ready = sorted((n for n in first_seen if indegree[n] == 0), key=rank.__getitem__)
    out: list[str] = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for b in after[n]:
            indegree[b] -= 1
            if indegree[b] == 0:
                ready.append(b)
        ready.sort(key=rank.__getitem__)
    return out if len(out) == len(first_seen) else list(first_seen)


def _consistent_prefix(asked: Mapping[str, Hashable], d: str, order: list[str]) -> bool:
    """Whether a (possibly failed) run got as far as ``d`` would have been asked (it asked a later choice)."""
    later = order[order.index(d) + 1:]
    return any(n in asked for n in later)


def _restore(source: str, name: str, probes: int, checks: int, seed: int, choices: Sequence[Choice]) -> UserSpace:
    return _restored(load_function(source), source, name, probes, checks, seed, choices)


def _restore_fn(fn: Callable[..., Any], name: str, probes: int, checks: int, seed: int,
                choices: Sequence[Choice]) -> UserSpace:
    return _restored(fn, None, name, probes, checks, seed, choices)


def _restored(fn: Callable[..., Any], source: str | None, name: str, probes: int, checks: int, seed: int,
              choices: Sequence[Choice]) -> UserSpace:
    """A user space with its discovered choices (no second discovery in a worker process)."""
    space = UserSpace.__new__(UserSpace)
    space.source, space.fn, space.probes, space.checks, space.seed, space.task = source, fn, probes, checks, seed, None
    space._known = {c.name: tuple(c.options) for c in choices}
    space._meta = True
    SearchSpace.__init__(space, choices, name=name)
    return space


def check_output(space: str, arch: str, model: Any, task: Any) -> None:
    """Raise :class:`SpaceDefinitionError` unless ``model`` maps a batch of ``task`` inputs to one score per class."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise SpaceDefinitionError(f"space {space!r}: the function returned {type(model).__name__} for {arch}; it "
                                   f"must return a torch.nn.Module")
    shape = tuple(int(d) for d in task.input_shape)
    p = next(model.parameters(), None)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros((2, *shape), device=p.device if p is not None else "cpu"))
    except Exception as exc:
        raise SpaceDefinitionError(f"space {space!r}: the network of {arch} fails on an input of shape "
                                   f"{(2, *shape)} (task {getattr(task, 'name', '?')!r}): {type(exc).__name__}: "
                                   f"{exc}") from exc
    finally:
        model.train(was)
    want = (2, int(task.num_classes))
    if not torch.is_tensor(out) or tuple(out.shape) != want:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise SpaceDefinitionError(f"space {space!r}: the network of {arch} outputs {got} for an input of shape "
                                   f"{(2, *shape)}; task {getattr(task, 'name', '?')!r} needs {want} (a score for "
                                   f"each of its {task.num_classes} classes)")


# ----------------------------------------------------------------------------- the declarative form
def _walk(c: Choices, spec: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, options in spec.items():
        name = f"{prefix}{key}"
        if isinstance(options, Mapping) and options and all(isinstance(v, Mapping) or v is None
                                                            for v in options.values()):
            label = c.choice(name, list(options))
            out[name] = label
            if options[label]:
                _walk(c, options[label], f"{name}.", out)
        else:
            out[name] = c.choice(name, options)


def dict_space(spec: Mapping[str, Any], build: Callable[[dict[str, Any], Any], Any], name: str = "dict_space",
               **options: Any) -> UserSpace:
    """A space from a nested dict of choices and ``build(values, task) -> nn.Module``.

    Each entry ``name: options`` is a choice (options as for :meth:`Choices.choice`). An entry whose
    options are a dict of dicts (or None) chooses one of its keys, and the chosen key's dict holds
    choices that exist only then, named ``parent.child``::

        spec = {"width": [16, 32], "block": {"conv": {"kernel": [3, 5]}, "skip": None}}
        dict_space(spec, lambda v, task: ...)   # values: {"width": 16, "block": "conv", "block.kernel": 3}

    ``options`` go to :class:`UserSpace` (``task``, ``probes``, ``checks``, ``seed``).
    """
    if not isinstance(spec, Mapping) or not spec:
        raise SpaceDefinitionError(f"dict_space needs a non-empty dict of choices, got {spec!r}")

    def fn(c: Choices, task: Any) -> Any:
        values: dict[str, Any] = {}
        _walk(c, spec, "", values)
        return build(values, task)

    fn.__name__ = name
    return UserSpace(fn, name=name, **options)


def is_source(name: Any) -> bool:
    """Whether a space name is a user space's source (``FILE.py:NAME`` or ``MODULE:NAME``)."""
    return isinstance(name, str) and ":" in name


__all__ = ["Choices", "SpaceDefinitionError", "UserSpace", "check_output", "dict_space", "is_source",
           "load_function", "normalise_options"]
