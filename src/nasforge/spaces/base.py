"""Architectures and the generic choice-space machinery every space builds on.

A search space here is a flat, ordered list of named :class:`Choice` objects.
A choice may be *conditional* (active only when an earlier choice takes one of
given values), which also expresses *repeated* structure: block ``k`` of a
stage is a set of choices active when the stage's depth is at least ``k``
(see :func:`repeat`). An :class:`Architecture` is the values of the active
choices. Sampling, mutation, neighbours, crossover, one-hot encoding,
enumeration, containment and JSON all work on that one representation, so
every strategy runs on every space; a space overrides only what it must
(its string form, isomorphism via :meth:`SearchSpace.canonical`, validity via
:meth:`SearchSpace.is_valid`).
"""

from __future__ import annotations

import json
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any, Collection, Hashable, Iterator, Mapping, Sequence

import numpy as np

from nasforge.errors import InvalidArchitectureError
from nasforge.spaces.layout import MISSING, Layout

@dataclass(frozen=True)
class Architecture:
    """An immutable, hashable architecture: the values of a space's active choices.

    ``string`` is the space's string form (for NAS-Bench-201 the standard
    ``|op~0|+|op~0|op~1|+|...|`` string); equality and hashing use the space
    name and the choices only.
    """

    space: str
    choices: tuple[tuple[str, Hashable], ...]
    string: str = field(default="", compare=False)

    def __getitem__(self, name: str) -> Hashable:
        for key, value in self.choices:
            if key == name:
                return value
        raise KeyError(f"architecture has no choice {name!r}; its choices: {[k for k, _ in self.choices]}")

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.choices).get(name, default)

    def as_dict(self) -> dict[str, Hashable]:
        return dict(self.choices)

    def __str__(self) -> str:
        return self.string or ",".join(f"{k}={v}" for k, v in self.choices)


@dataclass(frozen=True)
class Choice:
    """One named decision with a finite tuple of options.

    ``when=(name, values)`` makes the choice active only when the earlier
    choice ``name`` takes one of ``values``.
    """

    name: str
    options: tuple[Hashable, ...]
    when: tuple[str, tuple[Hashable, ...]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise ValueError(f"choice {self.name!r} has no options")
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"choice {self.name!r} has repeated options: {self.options}")
        if self.when is not None:
            object.__setattr__(self, "when", (self.when[0], tuple(self.when[1])))


def categorical(name: str, options: Sequence[Hashable], when: tuple[str, Sequence[Hashable]] | None = None) -> Choice:
    return Choice(name, tuple(options), None if when is None else (when[0], tuple(when[1])))


def integer(name: str, low: int, high: int, when: tuple[str, Sequence[Hashable]] | None = None) -> Choice:
    """An integer choice in ``[low, high]`` (inclusive)."""
    if high < low:
        raise ValueError(f"integer choice {name!r}: high {high} < low {low}")
    return categorical(name, range(low, high + 1), when)


def repeat(prefix: str, count: Choice, template: Sequence[Choice]) -> list[Choice]:
    """A repeated block: ``count`` (an integer choice) copies of ``template``.

    Copy ``k`` (0-based) has choices named ``{prefix}{k}.{name}``, active when
    ``count`` is more than ``k``. Returns ``[count, *copies]``.
    """
    out = [count]
    counts = [int(v) for v in count.options]  # type: ignore[call-overload]
    for k in range(max(counts)):
        active = tuple(c for c in counts if c > k)
        for ch in template:
            if ch.when is not None:
                when = (f"{prefix}{k}.{ch.when[0]}", ch.when[1])
            elif k >= min(counts):
                when = (count.name, active)
            else:
                when = None
            out.append(Choice(f"{prefix}{k}.{ch.name}", ch.options, when))
    return out


class SearchSpace:
    """The contract every search space satisfies (see DESIGN.md, "The triangle").

    Subclasses provide ``choices`` (via ``__init__``); the default behaviour
    covers sampling, mutation, neighbours, crossover, encoding, enumeration,
    containment and serialisation. Override :meth:`canonical` when distinct
    choice values can describe the same network, :meth:`is_valid` when some
    combinations are not networks, and :meth:`to_string`/:meth:`from_string`
    for a space's customary string form.
    """

    name: str = "space"
    #: rejection-sampling attempts before giving up on finding a valid architecture
    max_tries: int = 10_000
    #: class names of the modules a latency lookup table profiles as one unit each (the operations a
    #: choice selects); every other leaf module is a unit of its own (:mod:`nasforge.evaluators.hardware.models`)
    latency_units: tuple[str, ...] = ()
    #: names of the columns of :meth:`cost_features` (none by default)
    cost_feature_names: tuple[str, ...] = ()

    def __init__(self, choices: Sequence[Choice], name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.choices: tuple[Choice, ...] = tuple(choices)
        if len({c.name for c in self.choices}) != len(self.choices):
            raise ValueError(f"space {self.name!r} has repeated choice names")
        #: the choices' structure: activity, completion, one-hot columns, size (see :mod:`nasforge.spaces.layout`)
        self.layout = Layout(self.choices)

    # -- construction -------------------------------------------------------
    def make(self, values: Mapping[str, Hashable]) -> Architecture:
        """Build an architecture from choice values; raises if they are not in the space."""
        lay = self.layout
        unknown = [n for n in values if n not in lay]
        if unknown:
            raise InvalidArchitectureError(
                f"unknown choice(s) {sorted(unknown)} for space {self.name!r}; known: {list(lay.names)}")
        items: list[tuple[str, Hashable]] = []
        for c in self.choices:
            if not lay.is_active(c, values):
                if c.name in values:
                    raise InvalidArchitectureError(f"choice {c.name!r} is set but inactive in space {self.name!r}")
                continue
            if c.name not in values:
                raise InvalidArchitectureError(f"choice {c.name!r} is missing for space {self.name!r}")
            v = values[c.name]
            if v not in c.options:
                raise InvalidArchitectureError(
                    f"{v!r} is not an option of choice {c.name!r}; options: {list(c.options)}")
            items.append((c.name, v))
        arch = Architecture(self.name, tuple(items))
        if not self.is_valid(arch):
            raise InvalidArchitectureError(f"{self.to_string(arch)!r} is not a valid {self.name} architecture")
        return Architecture(self.name, arch.choices, self.to_string(arch))

    # -- the SearchSpace contract --------------------------------------------
    def is_valid(self, arch: Architecture) -> bool:
        """Whether an architecture with in-range choices is a real network. Override."""
        return True

    def canonical(self, arch: Architecture) -> Architecture:
        """The one representative of ``arch``'s isomorphism class. Override."""
        return arch

    def key(self, arch: Architecture) -> str:
        """The string of the canonical form: twins share it; used to find duplicates."""
        return self.to_string(self.canonical(arch))

    def sample(self, rng: np.random.Generator) -> Architecture:
        for _ in range(self.max_tries):
            values = self.layout.complete({}, rng)
            arch = Architecture(self.name, tuple(values.items()))
            if self.is_valid(arch):
                return Architecture(self.name, arch.choices, self.to_string(arch))
        raise RuntimeError(f"no valid architecture found in {self.max_tries} samples of space {self.name!r}")

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one active choice to a different option (re-filling what it activates)."""
        self.check(arch)
        values = arch.as_dict()
        names = [n for n in values if len(self.layout.choice(n).options) > 1]
        if not names:
            return arch
        for _ in range(self.max_tries):
            name = names[int(rng.integers(len(names)))]
            others = [o for o in self.layout.choice(name).options if o != values[name]]
            new = dict(values)
            new[name] = others[int(rng.integers(len(others)))]
            child = Architecture(self.name, tuple(self.layout.complete(new, rng).items()))
            if self.is_valid(child):
                return Architecture(self.name, child.choices, self.to_string(child))
        raise RuntimeError(f"no valid mutation of {arch} found in {self.max_tries} tries")

    def neighbors(self, arch: Architecture) -> list[Architecture]:
        """Every valid architecture one choice away (newly active choices take their first option)."""
        self.check(arch)
        values = arch.as_dict()
        out = []
        for name, value in values.items():
            for option in self.layout.choice(name).options:
                if option == value:
                    continue
                new = dict(values)
                new[name] = option
                cand = Architecture(self.name, tuple(self.layout.complete(new).items()))
                if self.is_valid(cand):
                    out.append(Architecture(self.name, cand.choices, self.to_string(cand)))
        return out

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover: each choice from either parent with equal probability."""
        self.check(a)
        self.check(b)
        va, vb = a.as_dict(), b.as_dict()
        for _ in range(self.max_tries):
            mixed: dict[str, Hashable] = {}
            for c in self.choices:
                pool = [v[c.name] for v in (va, vb) if c.name in v]
                if pool:
                    mixed[c.name] = pool[int(rng.integers(len(pool)))]
            child = Architecture(self.name, tuple(self.layout.complete(mixed, rng).items()))
            if self.is_valid(child):
                return Architecture(self.name, child.choices, self.to_string(child))
        return a

    def encode(self, arch: Architecture) -> np.ndarray:
        """Fixed-length one-hot encoding (one block per choice, zeros where inactive)."""
        return self.layout.encode(arch.as_dict())

    @property
    def encoding_size(self) -> int:
        return self.layout.encoding_size

    def cost_features(self, arch: Architecture) -> np.ndarray:
        """What the network of ``arch`` computes, as numbers the encoding does not show directly: one value per
        :attr:`cost_feature_names`, for models of hardware cost (the latency predictor adds them to its
        features). A space whose choices interact in what runs overrides both (``nb201``: which edges run at
        all and which reach the cell's output); by default there are none."""
        return np.zeros(len(self.cost_feature_names), dtype=np.float32)

    def contains(self, arch: Any) -> bool:
        if not isinstance(arch, Architecture) or arch.space != self.name:
            return False
        try:
            return self.make(arch.as_dict()).choices == arch.choices
        except InvalidArchitectureError:
            return False

    def check(self, arch: Architecture) -> None:
        """Raise :class:`InvalidArchitectureError` naming ``arch`` unless it is an architecture of this space."""
        if not self.contains(arch):
            raise InvalidArchitectureError(f"{arch} is not an architecture of space {self.name!r}")

    def enumerate(self) -> Iterator[Architecture]:
        """Every valid architecture, in a fixed order (choices varied last-first)."""
        def rec(i: int, values: dict[str, Hashable]) -> Iterator[dict[str, Hashable]]:
            if i == len(self.choices):
                yield dict(values)
                return
            c = self.choices[i]
            if not self.layout.is_active(c, values):
                yield from rec(i + 1, values)
                return
            for o in c.options:
                values[c.name] = o
                yield from rec(i + 1, values)
                del values[c.name]

        for values in rec(0, {}):
            arch = Architecture(self.name, tuple(values.items()))
            if self.is_valid(arch):
                yield Architecture(self.name, arch.choices, self.to_string(arch))

    def size(self) -> int | None:
        """The number of architectures :meth:`enumerate` yields, as an exact Python int (however large);
        None when it is not known without enumerating.

        The default: the layout's count of assignments (:attr:`Layout.size`) when the space has no validity
        rule and the generic enumeration, else ``len(self)`` when a subclass defines ``__len__``, else None.
        Spaces with a closed form override this. Prefer it to ``len()``, which cannot exceed ``sys.maxsize``.
        """
        cls = type(self)
        if cls.__len__ is not SearchSpace.__len__:
            try:
                return int(len(self))
            except (TypeError, NotImplementedError, OverflowError):
                return None
        if cls.is_valid is SearchSpace.is_valid and cls.enumerate is SearchSpace.enumerate:
            return self.layout.size
        return None

    def __len__(self) -> int:
        n = self.size()
        if n is None:
            n = sum(1 for _ in self.enumerate())
        if n > sys.maxsize:
            raise OverflowError(f"space {self.name!r} has {n:.3e} architectures, more than len() can return; "
                                f"use space.size() for the exact count")
        return n

    # -- networks ---------------------------------------------------------------
    def build(self, arch: Architecture, task: Any) -> Any:
        """The ``torch.nn.Module`` for ``arch``, sized for ``task`` (input shape, class count).

        Trainable spaces override this; tabular-only spaces cannot build networks.
        """
        raise ValueError(f"space {self.name!r} describes a tabular benchmark's architectures and cannot "
                        f"build networks; trainable spaces: nb201, darts, mobilenet, mlp")

    # -- serialisation ----------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        return ",".join(f"{k}={v}" for k, v in arch.choices)

    def from_string(self, text: str) -> Architecture:
        values: dict[str, Hashable] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, raw = part.partition("=")
            if not sep or name not in self.layout:
                raise InvalidArchitectureError(
                    f"malformed {self.name} architecture {text!r}: expected 'name=value,...' "
                    f"with names from {list(self.layout.names)}")
            opts = {str(o): o for o in self.layout.choice(name).options}
            if raw not in opts:
                raise InvalidArchitectureError(
                    f"{raw!r} is not an option of choice {name!r}; options: {list(opts)}")
            values[name] = opts[raw]
        return self.make(values)

    def to_json(self, arch: Architecture) -> str:
        return json.dumps({"space": self.name, "choices": arch.as_dict()}, sort_keys=False)

    def from_json(self, text: str) -> Architecture:
        try:
            data = json.loads(text)
            space, values = data["space"], data["choices"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArchitectureError(
                f"malformed architecture JSON {text[:80]!r}: expected {{'space': ..., 'choices': {{...}}}}") from exc
        if space != self.name:
            raise InvalidArchitectureError(f"architecture JSON is for space {space!r}, not {self.name!r}")
        # JSON turns tuples into lists and int keys survive; map values back to option objects
        fixed = {}
        for name, v in values.items():
            c = self.layout.choice(name) if name in self.layout else None
            if c is not None:
                match = [o for o in c.options if o == v or (isinstance(v, list) and o == tuple(v))]
                fixed[name] = match[0] if match else v
            else:
                fixed[name] = v
        return self.make(fixed)

    def parse(self, text: str) -> Architecture:
        """An architecture from its string or JSON form (whichever ``text`` is)."""
        text = text.strip()
        return self.from_json(text) if text.startswith("{") else self.from_string(text)

    def get_params(self) -> dict[str, Any]:
        """The constructor's keyword arguments (stored unchanged as attributes of the same name)."""
        import inspect

        params = {}
        for p in list(inspect.signature(type(self).__init__).parameters.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("choices", "name"):
                continue
            params[p.name] = getattr(self, p.name)
        return params

    def describe(self) -> dict[str, Any]:
        """A plain description of the choices (for docs and ``nasforge list``)."""
        return {"name": self.name, "choices": [
            {"name": c.name, "options": list(c.options), **({"when": list(c.when)} if c.when else {})}
            for c in self.choices]}


#: consecutive random draws that find nothing new before :func:`sample_distinct` turns to the enumeration
STALE_DRAWS = 200
#: a space with at most this many architectures may be enumerated by :func:`sample_distinct`
ENUMERATE_LIMIT = 1_000_000
_counted: "weakref.WeakKeyDictionary[SearchSpace, tuple[int, int | None]]" = weakref.WeakKeyDictionary()


def enumerable_size(space: SearchSpace, limit: int = ENUMERATE_LIMIT) -> int | None:
    """The number of architectures of ``space`` when it is at most ``limit``, else None.

    Uses :meth:`SearchSpace.size`; a space that cannot say (a validity rule, no closed form) is counted by
    enumerating at most ``limit + 1`` architectures (remembered per space object).
    """
    n = space.size()
    if n is None:
        bound, n = _counted.get(space, (-1, None))
        if n is None and bound < limit:
            n = 0
            for _ in space.enumerate():
                n += 1
                if n > limit:
                    n = None
                    break
            _counted[space] = (limit, n)
    return n if n is not None and n <= limit else None


def sample_distinct(space: SearchSpace, n: int, rng: np.random.Generator | None,
                    exclude: Collection[str] = frozenset(), *, tries: int = STALE_DRAWS) -> list[Architecture]:
    """Up to ``n`` architectures with distinct keys (``space.key``, so isomorphic twins count once), none
    of whose keys is in ``exclude``. The one helper for "n distinct architectures".

    With an ``rng``: random draws (``space.sample``) until ``n`` are found or ``tries`` (default
    :data:`STALE_DRAWS`) draws in a row find nothing new; then, when the space can be enumerated (at most
    :data:`ENUMERATE_LIMIT` architectures, see :func:`enumerable_size`), the rest of its new architectures
    complete the list in random order. So when the space has at most ``n`` new architectures, the result is all of them; it never
    loops forever, and a huge space (MobileNet's ~1e30) is only sampled, never counted with ``len()``.
    With ``rng=None``: the first ``n`` in enumeration order (deterministic, for small spaces).

    The draws consume ``rng`` exactly as ``space.sample`` does, so ``n=1`` with ``exclude`` is "one
    architecture not tried yet" (an empty list when none is left)::

        new = sample_distinct(space, 1, rng, exclude=tried)
        arch = new[0] if new else space.sample(rng)   # a repeat once the space is used up
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        from nasforge.errors import ConfigError

        raise ConfigError(f"n must be an integer >= 0, got {n!r}")
    out: list[Architecture] = []
    if n == 0:
        return out
    seen = set(exclude)
    if rng is not None:
        stale = 0
        while len(out) < n and stale < tries:
            arch = space.sample(rng)
            key = space.key(arch)
            if key in seen:
                stale += 1
                continue
            stale = 0
            seen.add(key)
            out.append(arch)
        if len(out) >= n or enumerable_size(space) is None:
            return out
    rest: list[Architecture] = []
    for arch in space.enumerate():
        key = space.key(arch)
        if key not in seen:
            seen.add(key)
            rest.append(arch)
            if rng is None and len(rest) >= n:
                break
    if rng is None:
        return rest
    return out + [rest[int(i)] for i in rng.permutation(len(rest))[:n - len(out)]]


def product_size(choices: Sequence[Choice]) -> int:
    """Size of a space of unconditional choices (no validity constraints)."""
    return int(np.prod([len(c.options) for c in choices])) if choices else 1


__all__ = ["Architecture", "Choice", "SearchSpace", "InvalidArchitectureError", "Layout", "MISSING", "categorical",
           "integer", "repeat", "product_size", "sample_distinct", "enumerable_size"]
