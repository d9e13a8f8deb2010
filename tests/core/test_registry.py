"""One registry per kind of name; an unknown name lists the valid ones."""

from __future__ import annotations

import pytest

from seginterp.core.registry import Registry, UnknownNameError


def test_unknown_name_lists_valid_ones() -> None:
    r: Registry[int] = Registry("colour")
    r.add("red", 1)
    r.add("blue", 2)
    with pytest.raises(UnknownNameError, match=r"colour 'green'\. Valid colours: red, blue"):
        r.get("green")
    assert r.check(("blue", "red")) == ["blue", "red"]
    assert list(r) == ["red", "blue"] and "red" in r and len(r) == 2


def test_duplicate_name_refused() -> None:
    r: Registry[int] = Registry("thing")
    r.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        r.add("a", 2)


def test_unknown_name_error_is_a_value_error_with_plain_message() -> None:
    r: Registry[int] = Registry("layer")
    with pytest.raises(ValueError) as err:
        r.get("decoder9")
    assert str(err.value).startswith("Unknown layer 'decoder9'")


def test_a_registry_of_objects_is_keyed_by_their_name() -> None:
    class Thing:
        def __init__(self, name: str) -> None:
            self.name = name

    things = [Thing("a"), Thing("b")]
    r = Registry.of("thing", things)
    assert r.names() == ["a", "b"] and r.get("b") is things[1]
    assert Registry.of("thing", things, lambda t: t.name.upper()).names() == ["A", "B"]
    with pytest.raises(ValueError, match="already registered"):
        Registry.of("thing", [Thing("a"), Thing("a")])
