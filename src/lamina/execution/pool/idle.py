"""The pool's idle environments in two orders: per configuration most recently used first (warm
reuse keeps few environments hot), and across every function least recently used first (eviction)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lamina.domain.functions import FunctionConfig
from lamina.execution.environment import ExecutionEnvironment

PoolKey = tuple[str, str, str]  # (function name, version, revision id)


def pool_key(config: FunctionConfig) -> PoolKey:
    return (config.name, config.version, config.runs_revision)


# Told (configuration, how many of it are idle now) after each change: other workers may send an
# invocation to the one holding a warm environment of it (cluster/routing.py).
IdleCountChanged = Callable[[PoolKey, int], None]


class IdleEnvironments:
    def __init__(self, on_change: IdleCountChanged | None = None) -> None:
        self._on_change = on_change
        self._by_key: dict[PoolKey, list[ExecutionEnvironment]] = {}
        self._by_age: dict[ExecutionEnvironment, PoolKey] = {}  # insertion order: oldest first
        self._charges: dict[ExecutionEnvironment, int] = {}
        self.memory_mb = 0  # what the idle environments are charged to the budget, together

    def __len__(self) -> int:
        return len(self._by_age)

    def __iter__(self) -> Iterator[ExecutionEnvironment]:
        return iter(list(self._by_age))

    def __contains__(self, environment: object) -> bool:
        return environment in self._by_age

    def add(self, environment: ExecutionEnvironment, charge_mb: int) -> None:
        key = pool_key(environment.config)
        self._by_key.setdefault(key, []).append(environment)
        self._by_age[environment] = key
        self._charges[environment] = charge_mb
        self.memory_mb += charge_mb
        if self._on_change is not None:
            self._on_change(key, len(self._by_key[key]))

    def pop_newest(self, key: PoolKey) -> ExecutionEnvironment | None:
        """The most recently parked environment of this configuration."""
        environments = self._by_key.get(key)
        if not environments:
            return None
        environment = environments[-1]
        self.remove(environment)
        return environment

    def pop_oldest(self) -> ExecutionEnvironment | None:
        """The least recently parked environment of any function."""
        environment = next(iter(self._by_age), None)
        if environment is not None:
            self.remove(environment)
        return environment

    def pop_oldest_where(
        self, predicate: Callable[[ExecutionEnvironment], bool]
    ) -> ExecutionEnvironment | None:
        """The least recently parked environment `predicate` accepts."""
        environment = next((candidate for candidate in self._by_age if predicate(candidate)), None)
        if environment is not None:
            self.remove(environment)
        return environment

    def remove(self, environment: ExecutionEnvironment) -> None:
        key = self._by_age.pop(environment)
        environments = self._by_key[key]
        environments.remove(environment)
        if not environments:
            del self._by_key[key]
        self.memory_mb -= self._charges.pop(environment)
        if self._on_change is not None:
            self._on_change(key, len(environments))

    def has(self, key: PoolKey) -> bool:
        return key in self._by_key

    def count(self, key: PoolKey) -> int:
        return len(self._by_key.get(key, ()))

    def remove_where(self, predicate: Callable[[PoolKey], bool]) -> list[ExecutionEnvironment]:
        removed = [environment for environment, key in self._by_age.items() if predicate(key)]
        for environment in removed:
            self.remove(environment)
        return removed

    def clear(self) -> None:
        if self._on_change is not None:
            for key in self._by_key:
                self._on_change(key, 0)
        self._by_key.clear()
        self._by_age.clear()
        self._charges.clear()
        self.memory_mb = 0
