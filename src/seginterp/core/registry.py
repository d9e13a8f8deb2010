"""Named registries: every dataset source, attribution method and explainable layer has one name.

An unknown name fails with an error that lists the valid ones, as smp does for encoders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A mapping from names to objects of one kind, with helpful errors.

    >>> r: Registry[int] = Registry("thing")
    >>> r.add("one", 1)
    1
    >>> r.get("one")
    1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    @classmethod
    def of(
        cls, kind: str, items: Iterable[T], name: Callable[[T], str] = lambda item: item.name
    ) -> Registry[T]:
        """A registry of ``items``, each under ``name(item)`` (default: its ``name``)."""
        registry = cls(kind)
        for item in items:
            registry.add(name(item), item)
        return registry

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}. Valid {self.kind}s: {', '.join(self.names())}"
            ) from None

    def check(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Validate several names at once (before any expensive work); return them as a list."""
        for name in names:
            self.get(name)
        return list(names)

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
