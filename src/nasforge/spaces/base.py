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
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterator, Mapping, Sequence

import numpy as np

from nasforge.errors import InvalidArchitectureError




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

    def __init__(self, choices: Sequence[Choice], name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.choices: tuple[Choice, ...] = tuple(choices)
        self._by_name = {c.name: c for c in self.choices}
        if len(self._by_name) != len(self.choices):
            raise ValueError(f"space {self.name!r} has repeated choice names")
        seen: set[str] = set()
        for c in self.choices:
            if c.when is not None and c.when[0] not in seen:
                raise ValueError(f"choice {c.name!r} depends on {c.when[0]!r}, which must come earlier")
            seen.add(c.name)
        self._offsets = np.cumsum([0] + [len(c.options) for c in self.choices])
        self._index = {c.name: {o: i for i, o in enumerate(c.options)} for c in self.choices}

    # -- construction -------------------------------------------------------
    def _active(self, choice: Choice, values: Mapping[str, Hashable]) -> bool:
        return choice.when is None or values.get(choice.when[0], _MISSING) in choice.when[1]

    def make(self, values: Mapping[str, Hashable]) -> Architecture:
        """Build an architecture from choice values; raises if they are not in the space."""
        unknown = set(values) - set(self._by_name)
        if unknown:
            raise InvalidArchitectureError(
                f"unknown choice(s) {sorted(unknown)} for space {self.name!r}; known: {list(self._by_name)}")
        items: list[tuple[str, Hashable]] = []
        for c in self.choices:
            if not self._active(c, values):
                if c.name in values:
                    raise InvalidArchitectureError(f"choice {c.name!r} is set but inactive in space {self.name!r}")
                continue
            if c.name not in values:
                raise InvalidArchitectureError(f"choice {c.name!r} is missing for space {self.name!r}")
            v = values[c.name]
            if v not in self._index[c.name]:
                raise InvalidArchitectureError(
                    f"{v!r} is not an option of choice {c.name!r}; options: {list(c.options)}")
            items.append((c.name, v))
        arch = Architecture(self.name, tuple(items))
        if not self.is_valid(arch):
            raise InvalidArchitectureError(f"{self.to_string(arch)!r} is not a valid {self.name} architecture")
        return Architecture(self.name, arch.choices, self.to_string(arch))

    def _fill(self, values: dict[str, Hashable], rng: np.random.Generator | None) -> dict[str, Hashable]:
        """Drop inactive choices and fill newly active ones (randomly, or first option)."""
        out: dict[str, Hashable] = {}
        for c in self.choices:
            if not self._active(c, out):
                continue
            if c.name in values:
                out[c.name] = values[c.name]
            else:
                out[c.name] = c.options[int(rng.integers(len(c.options)))] if rng is not None else c.options[0]
        return out

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
            values = self._fill({}, rng)
            arch = Architecture(self.name, tuple(values.items()))
            if self.is_valid(arch):
                return Architecture(self.name, arch.choices, self.to_string(arch))
        raise RuntimeError(f"no valid architecture found in {self.max_tries} samples of space {self.name!r}")

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one active choice to a different option (re-filling what it activates)."""
        self._check(arch)
        values = arch.as_dict()
        names = [n for n in values if len(self._by_name[n].options) > 1]
        if not names:
            return arch
        for _ in range(self.max_tries):
            name = names[int(rng.integers(len(names)))]
            others = [o for o in self._by_name[name].options if o != values[name]]
            new = dict(values)
            new[name] = others[int(rng.integers(len(others)))]
            child = Architecture(self.name, tuple(self._fill(new, rng).items()))
            if self.is_valid(child):
                return Architecture(self.name, child.choices, self.to_string(child))
        raise RuntimeError(f"no valid mutation of {arch} found in {self.max_tries} tries")

    def neighbors(self, arch: Architecture) -> list[Architecture]:
        """Every valid architecture one choice away (newly active choices take their first option)."""
        self._check(arch)
        values = arch.as_dict()
        out = []
        for name, value in values.items():
            for option in self._by_name[name].options:
                if option == value:
                    continue
                new = dict(values)
                new[name] = option
                cand = Architecture(self.name, tuple(self._fill(new, None).items()))
                if self.is_valid(cand):
                    out.append(Architecture(self.name, cand.choices, self.to_string(cand)))
        return out

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover: each choice from either parent with equal probability."""
        self._check(a)
        self._check(b)
        va, vb = a.as_dict(), b.as_dict()
        for _ in range(self.max_tries):
            mixed: dict[str, Hashable] = {}
            for c in self.choices:
                pool = [v[c.name] for v in (va, vb) if c.name in v]
                if pool:
                    mixed[c.name] = pool[int(rng.integers(len(pool)))]
            child = Architecture(self.name, tuple(self._fill(mixed, rng).items()))
            if self.is_valid(child):
                return Architecture(self.name, child.choices, self.to_string(child))
        return a

    def encode(self, arch: Architecture) -> np.ndarray:
        """Fixed-length one-hot encoding (one block per choice, zeros where inactive)."""
        vec = np.zeros(int(self._offsets[-1]), dtype=np.float32)
        values = arch.as_dict()
        for i, c in enumerate(self.choices):
            value = values.get(c.name, _MISSING)
            if value is not _MISSING:
                vec[self._offsets[i] + self._index[c.name][value]] = 1.0
        return vec

    @property
    def encoding_size(self) -> int:
        return int(self._offsets[-1])

    def contains(self, arch: Any) -> bool:
        if not isinstance(arch, Architecture) or arch.space != self.name:
            return False
        try:
            return self.make(arch.as_dict()).choices == arch.choices
        except InvalidArchitectureError:
            return False

    def _check(self, arch: Architecture) -> None:
        if not self.contains(arch):
            raise InvalidArchitectureError(f"{arch} is not an architecture of space {self.name!r}")

    def enumerate(self) -> Iterator[Architecture]:
        """Every valid architecture, in a fixed order (choices varied last-first)."""
        def rec(i: int, values: dict[str, Hashable]) -> Iterator[dict[str, Hashable]]:
            if i == len(self.choices):
                yield dict(values)
                return
            c = self.choices[i]
            if not self._active(c, values):
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

    def __len__(self) -> int:
        return sum(1 for _ in self.enumerate())

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
            if not sep or name not in self._by_name:
                raise InvalidArchitectureError(
                    f"malformed {self.name} architecture {text!r}: expected 'name=value,...' "
                    f"with names from {list(self._by_name)}")
            opts = {str(o): o for o in self._by_name[name].options}
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
            c = self._by_name.get(name)
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


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def product_size(choices: Sequence[Choice]) -> int:
    """Size of a space of unconditional choices (no validity constraints)."""
    return int(np.prod([len(c.options) for c in choices])) if choices else 1


__all__ = ["Architecture", "Choice", "SearchSpace", "InvalidArchitectureError", "categorical",
           "integer", "repeat", "product_size"]
