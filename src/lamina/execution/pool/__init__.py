"""Warm environment pool."""

from lamina.execution.pool.warm_pool import EnvironmentPool

__all__ = ["EnvironmentPool"]
