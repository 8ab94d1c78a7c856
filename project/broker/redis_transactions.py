"""kombu's Redis transport with each publish batch sent as one MULTI/EXEC transaction.

kombu 5.7.0 sends a ``Producer.batch`` as a plain pipeline (``transaction=False``): a connection cut
off mid-flight may leave any prefix of the batch's pushes applied, and the producer cannot know
which. Inside MULTI … EXEC Redis applies a batch whole or not at all, so only one case stays open:
the EXEC went out and its reply never came back. Then ``BatchPublishError`` says the batch's fate is
unknown; every other failure raises kombu's ``OperationalError``: nothing of the batch was applied.
The commands are sent with redis-py's connection methods and never replayed (no redis-py retry).
Checked against kombu 5.7.0: ``Channel.create_publish_batch`` replaces kombu's pipeline batch.

``MessageCopies`` publishes the later messages of a bulk send without kombu's per-message glue
(``Producer.publish`` → ``_publish`` → the batch → ``Channel.basic_publish`` → ``_put``, most of a
job's cost): it copies the Redis message kombu built for the first job and replaces what differs
(body, headers, ``correlation_id``, ``delivery_tag``), each made by kombu's own functions but the
delivery tag, a UUID as kombu's, drawn from a batch of ids (project/ids.py) instead of ``uuid()``. It is used
only when kombu made that first message as one LPUSH (no exchange bindings, no queue expiry).
tests/celery_internals/test_messages.py compares the messages with ``apply_async``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as encode_string  # how kombu's JSONEncoder writes a str
from typing import Any

from kombu.exceptions import BatchPublishError, OperationalError
from kombu.transport import redis as kombu_redis
from kombu.utils.json import JSONEncoder
from kombu.utils.json import loads as from_json
from redis.exceptions import ResponseError

from project.ids import id_supply
from project.json_text import JsonWriter


class TransactionalPublishBatch:
    """The session kombu's ``Producer.batch`` asks a channel for: each flush is one MULTI/EXEC."""

    def __init__(self, channel: Any, max_size: int) -> None:
        self.channel = channel
        self.max_size = max_size
        self.commands: list[tuple[Any, ...]] = []

    def publish(self, message: dict[str, Any], **kwargs: Any) -> None:
        """Route ``message`` as kombu does; the channel hands its Redis commands to ``add``."""
        self.channel.basic_publish(message, _publish_batch=self, **kwargs)
        if len(self.commands) >= self.max_size:
            self.flush()

    def add(self, name: str, *args: Any) -> None:
        """Keep one Redis command (``lpush``, ``pexpire``, ``publish``) until the batch is flushed."""
        self.commands.append((name.upper(), *args))

    def flush(self) -> None:
        """Send the kept commands in one transaction; see the module's docstring for the errors."""
        commands, self.commands = self.commands, []
        if not commands:
            return
        with self.channel.conn_or_acquire() as client:
            pool = client.connection_pool
            try:
                connection = pool.get_connection()
            except Exception as exc:
                raise OperationalError(str(exc)) from exc  # nothing of the batch was sent
            try:
                run_transaction(connection, joined_pushes(commands))
            finally:
                pool.release(connection)

    def discard(self) -> None:
        """Forget the commands not sent yet."""
        self.commands.clear()

    def close(self) -> None:
        """Nothing to release: each flush returns its connection to the pool."""
        self.commands.clear()


# kombu's JSON serializer and its Redis transport write JSON with kombu.utils.json.dumps(value), which
# is JSONEncoder().encode(value) with a new encoder each time: this writes the same with one encoder.
_JSON = JsonWriter(JSONEncoder().default)


class MessageCopies:
    """Later messages of a bulk send, made from the Redis message kombu built for its first one."""

    def __init__(self, producer: Any, key: str, first: dict[str, Any]) -> None:
        self.producer = producer
        self.key = key  # the list kombu pushed the first message to (the queue, at its priority)
        self.first = first
        self.delivery_tags = id_supply()
        self.template = _JsonTemplate(
            dict(
                first,
                body=_hole("body"),
                headers=dict(first["headers"], **{name: _hole(name) for name in JOB_HEADERS}),
                properties=dict(
                    first["properties"], correlation_id=_hole("correlation_id"), delivery_tag=_hole("delivery_tag")
                ),
            )
        )

    def publish(self, body: Any, headers: dict[str, Any], correlation_id: str, **same: Any) -> None:
        """Put one later message in the producer's batch, as ``Producer.publish(body, **kwargs)`` would."""
        properties = dict(self.first["properties"], correlation_id=correlation_id)
        properties["delivery_tag"] = next(self.delivery_tags)  # Channel._next_delivery_tag
        message = dict(self.first, body=self._body(body), headers=headers, properties=properties)
        self._push(_JSON(message))

    def publish_job(self, task_id: str, body: Any, argsrepr: str, kwargsrepr: str) -> None:
        """``publish`` of a message whose headers are the first's but JOB_HEADERS (``task_id`` for the
        ids), written into the first message's JSON instead of encoding every header again."""
        holes = {
            "body": self._body(body),
            "id": task_id,
            "root_id": task_id,
            "argsrepr": argsrepr,
            "kwargsrepr": kwargsrepr,
            "correlation_id": task_id,
            "delivery_tag": next(self.delivery_tags),
        }
        self._push(self.template.fill(holes))

    def _body(self, body: Any) -> str:
        """The body as kombu's ``_inplace_augment_message`` encodes it for the channel."""
        channel = self.producer.channel
        encoded: str = channel.encode_body(_JSON(body), channel.body_encoding)[0]
        return encoded

    def _push(self, message: str) -> None:
        """Channel._put: the message's LPUSH, in the batch."""
        session = _batch_session(self.producer, create=True)
        session.commands.append(("LPUSH", self.key, message))
        if len(session.commands) >= session.max_size:
            session.flush()


# The headers a later job's message has of its own; Celery derives each from the job's id and arguments.
JOB_HEADERS = ("id", "root_id", "argsrepr", "kwargsrepr")
_HOLE = re.compile(r'"\\u0000appctl-hole-(\w+)\\u0000"')  # a hole as _JSON writes it: no Celery header holds a NUL


def _hole(name: str) -> str:
    return f"\x00appctl-hole-{name}\x00"


class _JsonTemplate:
    """The JSON of a message with holes: what ``_JSON`` writes once each hole holds a string."""

    def __init__(self, message: dict[str, Any]) -> None:
        parts = _HOLE.split(_JSON(message))
        self.pieces, self.holes = parts[::2], parts[1::2]  # the text between holes; the holes' names, in order

    def fill(self, strings: Mapping[str, str]) -> str:
        """The JSON with each hole holding its string."""
        parts = [self.pieces[0]]
        for name, piece in zip(self.holes, self.pieces[1:], strict=True):
            parts.append(encode_string(strings[name]))
            parts.append(piece)
        return "".join(parts)


def joined_pushes(commands: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``commands`` with each run of LPUSHes to one list joined into one LPUSH of all their values,
    which Redis applies as it would apply them one by one: one command to parse and answer, not 1,000."""
    joined: list[tuple[Any, ...]] = []
    for command in commands:
        last = joined[-1] if joined else None
        if command[0] == "LPUSH" and last is not None and last[0] == "LPUSH" and last[1] == command[1]:
            last[2].extend(command[2:])
        elif command[0] == "LPUSH":
            joined.append(("LPUSH", command[1], list(command[2:])))
        else:
            joined.append(command)
    return [("LPUSH", command[1], *command[2]) if command[0] == "LPUSH" else command for command in joined]


def _batch_session(producer: Any, create: bool) -> Any:
    """The session of ``producer``'s open batch (kombu 5.7.0: ``Producer._batch_local.current``, its
    ``_get_session`` makes the channel's ``create_publish_batch`` session on the batch's first message)."""
    state = producer._batch_local.current
    if state.aborted:
        raise RuntimeError("Cannot publish through an aborted batch")
    return state._get_session(producer.channel) if create else state.session


def run_transaction(connection: Any, commands: list[tuple[Any, ...]]) -> None:
    """MULTI, ``commands``, EXEC on ``connection``; raise as the module's docstring says."""
    packed = connection.pack_commands([("MULTI",), *commands, ("EXEC",)])
    try:
        connection.send_packed_command(packed, check_health=False)
    except Exception as exc:  # EXEC, the last bytes, was not sent whole: Redis discards the transaction
        connection.disconnect()
        raise OperationalError(str(exc)) from exc
    try:
        refused = [reply for reply in (_reply(connection) for _ in range(len(commands) + 1)) if reply]
        applied = connection.read_response()
    except ResponseError as exc:  # EXECABORT: Redis refused the transaction, applied nothing
        raise OperationalError(f"Redis refused the batch: {refused[0] if refused else exc}") from exc
    except Exception as exc:
        connection.disconnect()
        raise BatchPublishError("the broker's answer to a batch was lost; its fate is unknown") from exc
    failed = [reply for reply in applied if isinstance(reply, Exception)]
    if failed:  # a command failed inside an applied transaction: the others took effect
        raise BatchPublishError(f"part of a batch failed in Redis: {failed[0]}")


def _reply(connection: Any) -> ResponseError | None:
    """Read the reply to MULTI or to a queued command; a refusal is returned, not raised."""
    try:
        connection.read_response()
    except ResponseError as exc:
        return exc
    return None


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, publishing batches as transactions."""

    def create_publish_batch(self, max_size: int) -> TransactionalPublishBatch:
        """A batch whose every flush is one MULTI/EXEC."""
        return TransactionalPublishBatch(self, max_size)

    def message_copies(self, producer: Any, publish_kwargs: Mapping[str, Any]) -> MessageCopies | None:
        """Copies of the message ``producer`` has just put in its batch, or None when kombu's way is needed.

        ``publish_kwargs``: what the first message was published with; later ones differ only in their
        ``headers`` and ``correlation_id`` (and ``declare``, ``retry``, which do not change the message).
        """
        session = _batch_session(producer, create=False)
        if not isinstance(session, TransactionalPublishBatch) or len(session.commands) != 1:
            return None
        name, key, payload = session.commands[0]
        plain_json = publish_kwargs.get("serializer") == "json" and not publish_kwargs.get("content_type")
        if name != "LPUSH" or not plain_json or publish_kwargs.get("compression"):
            return None
        return MessageCopies(producer, key, from_json(payload))


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with transactional publish batches."""

    Channel = Channel
