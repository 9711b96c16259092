"""Search strategies: small seeded ask/tell classes that work on every space."""

from nasforge.strategies.base import Strategy

__all__ = ["Strategy"]
