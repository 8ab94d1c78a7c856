"""Task messages exactly as ``apply_async`` publishes them, built fast enough for bulk sends.

``apply_async`` also makes a result object for every job and, on Redis, subscribes to each job's
result channel; publishing thousands of jobs needs neither. Here Celery itself builds and
publishes the first job of a run (``create_task_message`` then ``send_task_message``); every
later job is a copy of that message in which only what Celery derives from the job's id and
arguments is replaced: the ``id``, ``root_id``, ``argsrepr`` and ``kwargsrepr`` headers, the
``correlation_id`` property and the body. tests/celery_internals/test_messages.py compares the
result with ``apply_async``'s own messages on every broker. Relative times (``countdown``,
``expires`` in seconds) count from the start of the run. The publish signals are sent for every
job as ``send_task_message`` sends them, unless no receiver but the caller's ``silent`` ones (the
history's, while the caller records) would act: then a later job's message is written into the
first one's JSON (MessageCopier.publish_job), with no headers built for a receiver.

Replaces, for bulk sends, Celery 5.7.0's ``Task.apply_async`` → ``Celery.send_task`` →
``AMQP.send_task_message`` (the options split, the router, the ``before_task_publish`` and
``after_task_publish`` signals), and reads the private ``Task._get_exec_options`` and
``Signal._live_receivers``. Checked against Celery 5.7.0 and kombu 5.7.0.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, Protocol

from celery import Task, signals
from celery.utils.saferepr import saferepr

# The options send_task passes to create_task_message by name; the rest go through the router.
_NAMED_OPTIONS = ("countdown", "eta", "expires", "time_limit", "soft_time_limit", "ignore_result")


def job_repr(value: Any, maxsize: int, maxlevels: int) -> str:
    """Celery's ``saferepr`` of task arguments, with ``repr`` where the two are known to agree."""
    if _plain(value, 0, maxlevels):
        text = repr(value)
        if len(text) <= maxsize:
            return text
    return str(saferepr(value, maxsize, maxlevels=maxlevels))


def _plain(value: Any, depth: int, maxlevels: int) -> bool:
    """True for JSON data ``saferepr`` shows as ``repr`` does: no quotes, backslashes or
    unprintable characters in strings, containers nested less than ``maxlevels`` deep."""
    kind = type(value)
    if kind is str:
        return value.isprintable() and "'" not in value and "\\" not in value
    if value is None or kind in (int, float, bool):
        return True
    if kind not in (list, tuple, dict) or (maxlevels and depth >= maxlevels):
        return False
    items = [*value, *value.values()] if kind is dict else value
    return all(_plain(item, depth + 1, maxlevels) for item in items)


def schedule_of(headers: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """``(eta, expires)`` of a task message, as UTC date-times: protocol 2 headers hold them as ISO 8601
    (Celery 5.7.0 ``AMQP.as_task_v2``; a time without a zone is UTC there)."""
    return _message_time(headers.get("eta")), _message_time(headers.get("expires"))


def _message_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:  # another producer's odd header: the job still goes on
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class _RecordingProducer:
    """Passes ``publish`` on to the real producer and remembers its keyword arguments."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.publish_kwargs: dict[str, Any] = {}

    def publish(self, body: Any, **kwargs: Any) -> Any:
        self.publish_kwargs = kwargs
        return self.producer.publish(body, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)


def delivery_options(task: Task, options: dict[str, Any]) -> dict[str, Any]:
    """``apply_async``'s execution options: the task's own, then the caller's (queue, countdown, eta, expires)."""
    merged = dict(task._get_exec_options(), **{k: v for k, v in options.items() if v is not None})
    merged.setdefault("ignore_result", task.ignore_result)
    return merged


def publishes_in_batches(channel: Any) -> bool:
    """Whether ``Producer.batch`` holds messages back on ``channel`` (kombu 5.7.0's own test)."""
    return callable(getattr(channel, "create_publish_batch", None)) and bool(
        getattr(channel, "supports_batch_publish", True)
    )


_PUBLISH_SIGNALS = (signals.before_task_publish, signals.after_task_publish)


def _acting(signal: Any, sender: str, silent: Collection[Callable[..., Any]]) -> bool:
    """Whether ``signal`` from ``sender`` reaches a receiver not in ``silent`` (Celery 5.7.0's
    private ``Signal._live_receivers``, which ``Signal.send`` calls)."""
    return any(receiver not in silent for receiver in signal._live_receivers(sender))


class MessageCopier(Protocol):
    """Publishes later messages of a run as copies of its first (project/broker/redis_transactions.py)."""

    def publish(self, body: Any, headers: dict[str, Any], correlation_id: str, **same: Any) -> None:
        """As ``Producer.publish(body, **kwargs)`` would."""

    def publish_job(self, task_id: str, body: Any, argsrepr: str, kwargsrepr: str) -> None:
        """A message whose headers are the first's but for the job's ids and argument reprs (no
        receiver of the publish signals acts, so no one sees or changes its headers)."""


class TaskMessages:
    """Publishes jobs of one task with one set of options, each message as ``apply_async`` would."""

    def __init__(self, task: Task, options: dict[str, Any], silent: Collection[Callable[..., Any]] = ()) -> None:
        self.task = task
        self.silent = silent  # receivers of the publish signals that do nothing during this run
        self.heard = True  # whether a receiver acts on the publish signals (known once the first job is sent)
        self.app = task.app
        self.options = delivery_options(task, options)
        self.argsrepr_maxsize = self.app.amqp.argsrepr_maxsize
        self.kwargsrepr_maxsize = self.app.amqp.kwargsrepr_maxsize
        self.maxlevels = self.app.conf.task_repr_maxlevels
        self.template: Any = None
        self.publish_kwargs: dict[str, Any] = {}
        # Publishes later jobs' messages in place of ``producer.publish``: set by the caller when the
        # broker can copy the first message (project/broker/redis_transactions.py, MessageCopies).
        self.copies: MessageCopier | None = None
        self._schedule: tuple[Any, tuple[datetime | None, datetime | None]] = (None, (None, None))
        # Routers, shadow names and sent events may depend on each job: then Celery builds every message.
        self.celery_builds_each = bool(
            self.app.amqp.router.routes
            or self.app.conf.task_send_sent_event
            or type(task).shadow_name is not Task.shadow_name
        )

    def schedule(self) -> tuple[datetime | None, datetime | None]:
        """``(eta, expires)`` of the last message sent (read once per message template)."""
        if self.template is None:
            return None, None
        if self._schedule[0] is not self.template:
            self._schedule = (self.template, schedule_of(self.template.headers))
        return self._schedule[1]

    @property
    def copies_differ_by_job_only(self) -> bool:
        """Whether later messages differ from the first only in their body, headers and correlation id:
        no per-job routing, and no ``expires`` date, whose time left ``message`` counts for each job."""
        return not self.celery_builds_each and not isinstance(self.options.get("expires"), datetime)

    @property
    def queue(self) -> str | None:
        """The routing key the jobs went out with (known once the first is sent)."""
        queue: str | None = self.publish_kwargs.get("routing_key")
        return queue

    def send(self, producer: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Publish one job over ``producer``: built by Celery, or a copy of the first job's message."""
        if self.template is None or self.celery_builds_each:
            self.send_with_celery(producer, task_id, args, kwargs)
        elif self.copies is not None and not self.heard:  # no headers to show a receiver: write the message
            argsrepr = job_repr(args, self.argsrepr_maxsize, self.maxlevels)
            kwargsrepr = job_repr(kwargs, self.kwargsrepr_maxsize, self.maxlevels)
            self.copies.publish_job(task_id, (args, kwargs, self.template.body[2]), argsrepr, kwargsrepr)
        else:
            self.send_copy(producer, task_id, args, kwargs)

    def send_copy(self, producer: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Publish a copy of the template with Celery's publish signals, as ``send_task_message`` sends them."""
        body, options = self.message(task_id, args, kwargs)
        if signals.before_task_publish.receivers:  # receivers may add headers
            signals.before_task_publish.send(
                sender=self.task.name,
                body=body,
                exchange=options["exchange"],
                routing_key=options["routing_key"],
                declare=[],
                headers=options["headers"],
                properties={"correlation_id": task_id, "reply_to": options.get("reply_to")},
                retry_policy=options.get("retry_policy"),
            )
        (self.copies.publish if self.copies is not None else producer.publish)(body, **options)
        if signals.after_task_publish.receivers:
            signals.after_task_publish.send(
                sender=self.task.name,
                body=body,
                headers=options["headers"],
                exchange=options["exchange"],
                routing_key=options["routing_key"],
            )

    def send_with_celery(self, producer: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Publish one job the way ``send_task`` does and keep its message as the template."""
        amqp, name = self.app.amqp, self.task.name
        named, route = self._send_task_options(args, kwargs)
        message = amqp.create_task_message(
            task_id,
            name,
            args,
            kwargs,
            reply_to=self.app.thread_oid,
            create_sent_event=self.app.conf.task_send_sent_event,
            shadow=self.task.shadow_name(args, kwargs, self.options),
            **named,
            **route,
        )
        recorder = _RecordingProducer(producer)
        amqp.send_task_message(recorder, name, message, **route)
        self.template, self.publish_kwargs = message, recorder.publish_kwargs
        self.heard = any(_acting(signal, name, self.silent) for signal in _PUBLISH_SIGNALS)

    def _send_task_options(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``send_task``'s split of the options: those ``create_task_message`` names, and the routed rest."""
        options = dict(self.options)
        named = {key: options.pop(key, None) for key in _NAMED_OPTIONS}
        route = self.app.amqp.router.route(options, self.task.name, args, kwargs, self.task)
        expires = named["expires"]
        if isinstance(expires, datetime):
            route["expiration"] = max(0.0, (expires - self.app.now()).total_seconds())
        elif expires is not None:
            route["expiration"] = expires
        return named, route

    def message(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The body and ``Producer.publish`` arguments of a later job (the queue is declared already)."""
        headers = dict(
            self.template.headers,
            id=task_id,
            root_id=task_id,
            argsrepr=job_repr(args, self.argsrepr_maxsize, self.maxlevels),
            kwargsrepr=job_repr(kwargs, self.kwargsrepr_maxsize, self.maxlevels),
        )
        body = (args, kwargs, self.template.body[2])
        publish_kwargs = dict(self.publish_kwargs, headers=headers, correlation_id=task_id, declare=[], retry=False)
        if isinstance(self.options.get("expires"), datetime):  # the time left, as send_task counts it
            publish_kwargs["expiration"] = self._send_task_options(args, kwargs)[1]["expiration"]
        return body, publish_kwargs
