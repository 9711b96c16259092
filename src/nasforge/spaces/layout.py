"""The layout of a choice space: which choices exist, which are active, and where each option sits.

A :class:`~nasforge.spaces.base.SearchSpace` is an ordered list of named
:class:`~nasforge.spaces.base.Choice` objects, some of them conditional
(``when=(parent, values)``: active only while the earlier choice ``parent``
takes one of ``values``). :class:`Layout` is the one frozen, public view of
that structure, built once by the space (``space.layout``) and read by
everything that works on choices rather than on networks:

* strategies, to complete a partial assignment after changing or fixing some
  choices (:meth:`Layout.complete`), to find the active choices
  (:meth:`Layout.is_active`, :meth:`Layout.active`), and to turn values into
  option indices and back (:meth:`Layout.indices`, :meth:`Layout.values`);
* surrogate models and encoders, through the one-hot block of each choice
  (:meth:`Layout.columns`, :meth:`Layout.column`; ``space.encode`` writes
  exactly these columns);
* weight-sharing supernets (one candidate operation per option, gated by the
  active choices) and per-operation latency tables (one entry per column),
  which index their parameters and rows by the same columns;
* anyone who needs the number of assignments (:attr:`Layout.size`, an exact
  Python int however large).

The layout knows nothing of validity rules or isomorphism: those stay with the
space (``space.is_valid``, ``space.canonical``), so :attr:`Layout.size` counts
assignments, not valid networks. Example::

    from nasforge.spaces import SearchSpace, categorical

    space = SearchSpace([categorical("se", [False, True]),
                         categorical("ratio", [0.25, 0.5], when=("se", [True])),
                         categorical("kernel", [3, 5, 7])])
    lay = space.layout
    lay.size                                  # 9: (1 + 2) x 3
    lay.is_active("ratio", {"se": False})     # False
    lay.complete({"se": True})                # {'se': True, 'ratio': 0.25, 'kernel': 3}
    lay.columns("kernel")                     # slice(4, 7): kernel's block of the one-hot encoding
    lay.column("kernel", 5)                   # 5
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # base imports this module; Choice is only needed for type hints here
    from nasforge.spaces.base import Choice


class _Missing:
    """The value of a choice that is absent (inactive or not set); never equal to an option."""

    _instance: "_Missing | None" = None

    def __new__(cls) -> "_Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


#: the one sentinel for "this choice has no value" (``values.get(name, MISSING)``)
MISSING: Any = _Missing()


class Layout:
    """A frozen view of a space's ordered choices: activity, completion, one-hot columns and size.

    Built from the choices in space order (a conditional choice's parent must
    come earlier). Values are plain mappings ``{choice name: option}``; an
    architecture's values are ``arch.as_dict()``.
    """

    __slots__ = ("choices", "names", "sizes", "offsets", "_pos", "_index", "_parents", "_size")

    def __init__(self, choices: Sequence["Choice"]) -> None:
        choices = tuple(choices)
        pos = {c.name: i for i, c in enumerate(choices)}
        if len(pos) != len(choices):
            raise ValueError(f"repeated choice names in {[c.name for c in choices]}")
        for i, c in enumerate(choices):
            if c.when is not None and pos.get(c.when[0], i) >= i:
                raise ValueError(f"choice {c.name!r} depends on {c.when[0]!r}, which must come earlier")
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "names", tuple(c.name for c in choices))
        object.__setattr__(self, "sizes", tuple(len(c.options) for c in choices))
        offsets = [0]
        for k in self.sizes:
            offsets.append(offsets[-1] + k)
        object.__setattr__(self, "offsets", tuple(offsets))
        object.__setattr__(self, "_pos", pos)
        object.__setattr__(self, "_index", tuple({o: i for i, o in enumerate(c.options)} for c in choices))
        parents: list[tuple[int, np.ndarray] | None] = []
        for c in choices:
            if c.when is None:
                parents.append(None)
                continue
            p = pos[c.when[0]]
            table = np.array([o in c.when[1] for o in choices[p].options], dtype=bool)
            table.setflags(write=False)
            parents.append((p, table))
        object.__setattr__(self, "_parents", tuple(parents))
        object.__setattr__(self, "_size", self._count())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Layout is frozen; cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Layout, (self.choices,))

    def __repr__(self) -> str:
        return f"Layout({len(self.choices)} choices, encoding_size={self.encoding_size}, size={self.size})"

    def __len__(self) -> int:
        """The number of choices."""
        return len(self.choices)

    # -- choices --------------------------------------------------------------------
    def position(self, name: str) -> int:
        """The index of choice ``name`` in the space's order."""
        try:
            return self._pos[name]
        except KeyError:
            raise KeyError(f"no choice {name!r}; choices: {list(self.names)}") from None

    def choice(self, name: str) -> "Choice":
        """The :class:`Choice` called ``name``."""
        return self.choices[self.position(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._pos

    def parent(self, name: str) -> tuple[int, np.ndarray] | None:
        """None for an unconditional choice; else the position of the choice it depends on and, per option of
        that parent (in order), whether it makes ``name`` active (a read-only boolean array)."""
        return self._parents[self.position(name)]

    # -- activity and completion --------------------------------------------------------
    def is_active(self, choice: "Choice | str", values: Mapping[str, Hashable]) -> bool:
        """Whether ``choice`` (a Choice or its name) is active given the values of the earlier choices."""
        c = self.choice(choice) if isinstance(choice, str) else choice
        return c.when is None or values.get(c.when[0], MISSING) in c.when[1]

    def active(self, values: Mapping[str, Hashable]) -> list["Choice"]:
        """The choices active under ``values``, in order (read progressively: a choice whose parent is
        inactive is inactive, whatever ``values`` holds for the parent)."""
        out: list[Choice] = []
        on: set[str] = set()
        for c in self.choices:
            if c.when is None or (c.when[0] in on and values.get(c.when[0], MISSING) in c.when[1]):
                out.append(c)
                on.add(c.name)
        return out

    def complete(self, values: Mapping[str, Hashable], rng: np.random.Generator | None = None) -> dict[str, Hashable]:
        """The assignment that keeps ``values`` where their choices are active, drops inactive ones, and fills
        active choices without a value: with an option drawn uniformly from ``rng`` (one ``rng.integers``
        call per filled choice, in order), or with the first option when ``rng`` is None.

        Values are not checked against the options (``space.make`` does that); the result is in space order.
        """
        out: dict[str, Hashable] = {}
        for c in self.choices:
            if c.when is not None and out.get(c.when[0], MISSING) not in c.when[1]:
                continue
            if c.name in values:
                out[c.name] = values[c.name]
            else:
                out[c.name] = c.options[int(rng.integers(len(c.options)))] if rng is not None else c.options[0]
        return out

    # -- indices and the one-hot encoding ---------------------------------------------------
    def option_index(self, name: str, value: Hashable) -> int:
        """The position of ``value`` among the options of choice ``name``."""
        try:
            return self._index[self.position(name)][value]
        except KeyError:
            raise KeyError(f"{value!r} is not an option of choice {name!r}; options: "
                           f"{list(self.choice(name).options)}") from None

    def indices(self, values: Mapping[str, Hashable]) -> list[int]:
        """The option index of every choice, in order, with -1 where ``values`` has no value."""
        return [self._index[i][values[c.name]] if c.name in values else -1 for i, c in enumerate(self.choices)]

    def values(self, indices: Sequence[int]) -> dict[str, Hashable]:
        """The inverse of :meth:`indices`: choice values for option indices (negative = no value)."""
        return {c.name: c.options[int(k)] for c, k in zip(self.choices, indices) if k >= 0}

    def active_rows(self, i: int, indices: np.ndarray) -> np.ndarray:
        """For a batch of index rows (batch x choices, -1 = no value), which rows have choice ``i`` active
        given their earlier entries (vectorised :meth:`is_active`, for batched samplers)."""
        w = self._parents[i]
        if w is None:
            return np.ones(len(indices), dtype=bool)
        parent = indices[:, w[0]]
        return (parent >= 0) & w[1][np.maximum(parent, 0)]

    @property
    def encoding_size(self) -> int:
        """The length of the one-hot encoding: the total number of options."""
        return self.offsets[-1]

    def columns(self, name: str) -> slice:
        """The block of choice ``name`` in the one-hot encoding (one column per option, in option order)."""
        i = self.position(name)
        return slice(self.offsets[i], self.offsets[i + 1])

    def column(self, name: str, value: Hashable) -> int:
        """The column of option ``value`` of choice ``name`` in the one-hot encoding."""
        return self.offsets[self.position(name)] + self.option_index(name, value)

    def column_choices(self) -> tuple[str, ...]:
        """The choice name of every column of the one-hot encoding, in column order."""
        return tuple(c.name for c in self.choices for _ in c.options)

    def encode(self, values: Mapping[str, Hashable]) -> np.ndarray:
        """The one-hot encoding of ``values`` (float32, length :attr:`encoding_size`; zeros where a choice has
        no value). ``SearchSpace.encode`` is this, for an architecture's values."""
        vec = np.zeros(self.encoding_size, dtype=np.float32)
        for i, c in enumerate(self.choices):
            value = values.get(c.name, MISSING)
            if value is not MISSING:
                vec[self.offsets[i] + self._index[i][value]] = 1.0
        return vec

    # -- size --------------------------------------------------------------------------------
    @property
    def size(self) -> int | None:
        """The exact number of assignments (complete, consistent values of the active choices) as a Python
        int, counting conditional structure, without validity rules or isomorphism; None when it cannot be
        counted (not the case for choices with finite options)."""
        return self._size

    def sample_uniform(self, rng: np.random.Generator) -> dict[str, Hashable]:
        """An assignment drawn uniformly from all :attr:`size` assignments (the conditional structure
        counted: an option that activates more choices below it is drawn as often as it has completions).

        :meth:`complete` draws each active choice uniformly instead, which for a conditional space
        favours the assignments with fewer active choices (a shallow stage of a MobileNet space). Drawn
        in space order, one ``rng.random`` call per active choice.
        """
        weights = self._option_counts()
        out: dict[str, Hashable] = {}
        for i, c in enumerate(self.choices):
            if c.when is not None and out.get(c.when[0], MISSING) not in c.when[1]:
                continue
            w = weights[i]
            total = sum(w)
            u = float(rng.random()) * total if total < 2 ** 53 else int(float(rng.random()) * 2 ** 53) * total // 2 ** 53
            k, acc = 0, w[0]
            while acc <= u and k < len(w) - 1:
                k += 1
                acc += w[k]
            out[c.name] = c.options[k]
        return out

    def _option_counts(self) -> list[list[int]]:
        """Per choice and option, the number of assignments of the choices below it that option allows."""
        count: list[int] = [0] * len(self.choices)
        children: list[list[int]] = [[] for _ in self.choices]
        for i, w in enumerate(self._parents):
            if w is not None:
                children[w[0]].append(i)
        per_option: list[list[int]] = [[] for _ in self.choices]
        for i in range(len(self.choices) - 1, -1, -1):
            for k in range(self.sizes[i]):
                n = 1
                for j in children[i]:
                    if self._parents[j][1][k]:  # type: ignore[index]
                        n *= count[j]
                per_option[i].append(n)
            count[i] = sum(per_option[i])
        return per_option

    def _count(self) -> int | None:
        # Each conditional choice depends on one earlier choice, so the choices form a forest. The
        # assignments below a choice number sum over its options of the product, over the children that
        # option activates, of their own counts; the space's count is the product over the roots.
        per_option = self._option_counts()
        out = 1
        for i, w in enumerate(self._parents):
            if w is None:
                out *= sum(per_option[i])
        return out


__all__ = ["Layout", "MISSING"]
