"""Warm environment pool: memory budget, keep-alive policies, idle environments."""

from lamina.execution.pool.budget import MemoryBudget, MemoryBudgetExhausted
from lamina.execution.pool.keep_alive import (
    FixedKeepAlive,
    HybridHistogramKeepAlive,
    KeepAlivePolicy,
    KeepAliveWindows,
)
from lamina.execution.pool.warm_pool import EnvironmentPool, PoolUsage, ProvisionedState

__all__ = [
    "EnvironmentPool",
    "FixedKeepAlive",
    "HybridHistogramKeepAlive",
    "KeepAlivePolicy",
    "KeepAliveWindows",
    "MemoryBudget",
    "MemoryBudgetExhausted",
    "PoolUsage",
    "ProvisionedState",
]
