"""What the invocation path tells observers (metrics, the billing meter): one call per finished or
throttled invocation and per asynchronous-delivery event. Observers must be cheap: they run on the
hot path and only buffer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lamina.execution.environment import InvocationResult
    from lamina.execution.invocation import InvocationInput

# Asynchronous-invocation events, named as the AWS/Lambda metrics that count them.
ASYNC_EVENTS_RECEIVED = "AsyncEventsReceived"
ASYNC_EVENT_AGE = "AsyncEventAge"
ASYNC_EVENTS_DROPPED = "AsyncEventsDropped"
DESTINATION_DELIVERY_FAILURES = "DestinationDeliveryFailures"
DEAD_LETTER_ERRORS = "DeadLetterErrors"
RECURSIVE_INVOCATIONS_DROPPED = "RecursiveInvocationsDropped"


class InvocationObserver(Protocol):
    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        """An invocation ran (successfully or not); `concurrency`: invocations running meanwhile."""

    def throttled(self, invocation: InvocationInput) -> None: ...

    def async_event(
        self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0
    ) -> None: ...


class NoObserver:
    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        return None

    def throttled(self, invocation: InvocationInput) -> None:
        return None

    def async_event(self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0) -> None:
        return None


class Observers:
    """Several observers as one."""

    def __init__(self, *observers: InvocationObserver) -> None:
        self._observers = list(observers)

    def add(self, observer: InvocationObserver) -> None:
        self._observers.append(observer)

    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        for observer in self._observers:
            observer.invoked(invocation, result, concurrency)

    def throttled(self, invocation: InvocationInput) -> None:
        for observer in self._observers:
            observer.throttled(invocation)

    def async_event(self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0) -> None:
        for observer in self._observers:
            observer.async_event(kind, function_name, qualifier, value)
