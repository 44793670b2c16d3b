"""Fork servers: one pre-initialised interpreter per Python runtime that forks new environments."""

from lamina.execution.zygote.process import ZygoteProcess
from lamina.execution.zygote.sandbox import ZygoteSandbox

__all__ = ["ZygoteProcess", "ZygoteSandbox"]
