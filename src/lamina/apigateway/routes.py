"""HTTP API routes: route keys (`GET /items/{id}`, `ANY /{proxy+}`, `$default`) and which route a
request takes — a route for its method before an ANY route, the most specific path first (literal,
then `{param}`, then `{proxy+}`), and `$default` when none matches ("Working with routes for HTTP
APIs")."""

from __future__ import annotations

from collections.abc import Iterable

from lamina.apigateway.resource_paths import PathTree, check_path_part

__all__ = ["DEFAULT_ROUTE", "ROUTE_METHODS", "RouteTable", "check_route_key"]

DEFAULT_ROUTE = "$default"
ROUTE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})


def check_route_key(route_key: str) -> str | None:
    """Why `route_key` cannot be an HTTP API's route key, or None when it can."""
    if route_key == DEFAULT_ROUTE:
        return None
    method, _, path = route_key.partition(" ")
    if method not in ROUTE_METHODS or not path.startswith("/"):
        return f"Invalid route key: {route_key}. A route key is $default or an HTTP method and a path, such as GET /pets"
    parts = [part for part in path.split("/") if part]
    for index, part in enumerate(parts):
        problem = check_path_part(part)
        if problem is not None:
            return problem
        if part.endswith("+}") and index != len(parts) - 1:
            return "A greedy path variable must be the last part of the path"
    variables = [part.strip("{}+") for part in parts if part.startswith("{")]
    if len(variables) != len(set(variables)):
        return f"Invalid route key: {route_key}. A path variable may appear once"
    return None


class RouteTable:
    def __init__(self, routes: Iterable[tuple[str, str]]) -> None:
        """`routes`: (route id, route key) pairs."""
        by_method: dict[str, list[tuple[str, str]]] = {}
        self._default: str | None = None
        for route_id, route_key in routes:
            if route_key == DEFAULT_ROUTE:
                self._default = route_id
                continue
            method, _, path = route_key.partition(" ")
            by_method.setdefault(method, []).append((route_id, path))
        self._trees = {method: PathTree(paths) for method, paths in by_method.items()}

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """(route id, path parameters), or None when no route (not even $default) takes it."""
        for candidate in (method, "ANY"):
            tree = self._trees.get(candidate)
            if tree is not None:
                matched = tree.match(path)
                if matched is not None:
                    return matched
        return (self._default, {}) if self._default is not None else None
