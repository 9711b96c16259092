"""Search spaces: the generic choice machinery, the choice layout, and the built-in spaces."""

from nasforge.spaces.base import (
    Architecture,
    Choice,
    InvalidArchitectureError,
    SearchSpace,
    categorical,
    enumerable_size,
    integer,
    repeat,
    sample_distinct,
)
from nasforge.spaces.layout import MISSING, Layout

__all__ = ["Architecture", "Choice", "InvalidArchitectureError", "Layout", "MISSING", "SearchSpace", "categorical",
           "enumerable_size", "integer", "repeat", "sample_distinct"]
