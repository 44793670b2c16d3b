"""Which resource a path reaches: literal parts before {param} before {proxy+}."""

from __future__ import annotations

from lamina.apigateway.resource_paths import PathTree, check_path_part

TREE = PathTree(
    [
        ("root", "/"),
        ("hello", "/hello"),
        ("pet", "/pets/{petId}"),
        ("toys", "/pets/{petId}/toys"),
        ("special", "/pets/special"),
        ("greedy", "/{proxy+}"),
        ("files", "/files/{path+}"),
    ]
)


def test_literal_before_parameter_before_greedy() -> None:
    assert TREE.match("/") == ("root", {})
    assert TREE.match("/hello") == ("hello", {})
    assert TREE.match("/hello/") == ("hello", {})
    assert TREE.match("/pets/special") == ("special", {})
    assert TREE.match("/pets/42") == ("pet", {"petId": "42"})
    assert TREE.match("/pets/42/toys") == ("toys", {"petId": "42"})
    assert TREE.match("/files/a/b.txt") == ("files", {"path": "a/b.txt"})


def test_a_greedy_resource_takes_what_nothing_else_does() -> None:
    assert TREE.match("/pets/42/food") == ("greedy", {"proxy": "pets/42/food"})
    assert TREE.match("/anything") == ("greedy", {"proxy": "anything"})


def test_parameters_are_decoded_and_nothing_matches_without_a_resource() -> None:
    assert TREE.match("/pets/a%20b") == ("pet", {"petId": "a b"})
    assert PathTree([("pets", "/pets")]).match("/cats") is None
    assert PathTree([("pets", "/pets/{id}")]).match("/pets") is None


def test_path_parts() -> None:
    assert check_path_part("pets") is None
    assert check_path_part("{petId}") is None
    assert check_path_part("{proxy+}") is None
    assert check_path_part("a/b") is not None
    assert check_path_part("{bad") is not None
