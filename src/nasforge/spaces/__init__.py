"""Search spaces: the generic choice machinery and the built-in spaces."""

from nasforge.spaces.base import (
    Architecture,
    Choice,
    InvalidArchitectureError,
    SearchSpace,
    categorical,
    integer,
    repeat,
)

__all__ = ["Architecture", "Choice", "InvalidArchitectureError", "SearchSpace", "categorical",
           "integer", "repeat"]
