"""IdentityCache: values kept by the identity of read-only objects."""

from __future__ import annotations

from shipyard.core.objects import IdentityCache


def test_a_value_is_found_by_the_same_object_only() -> None:
    cache: IdentityCache[str] = IdentityCache(8)
    spec = {"containers": [{"name": "web"}]}
    assert cache.get(spec) is None
    assert cache.put(spec, "parsed") == "parsed"
    assert cache.get(spec) == "parsed"
    assert cache.get({"containers": [{"name": "web"}]}) is None  # equal, but another object


def test_the_cache_is_dropped_when_full() -> None:
    cache: IdentityCache[int] = IdentityCache(2)
    first, second, third = [1], [2], [3]
    cache.put(first, 1)
    cache.put(second, 2)
    cache.put(third, 3)  # full: the earlier entries go
    assert (cache.get(first), cache.get(second), cache.get(third)) == (None, None, 3)
