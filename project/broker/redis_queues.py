"""Redis's queues, read and emptied in kombu's own structures.

kombu 5.7.0's Redis transport keeps a queue as lists (the queue's name, plus ``name\\x06\\x16N`` per
priority step), pushed on the left and popped on the right (the next job is the rightmost); a
queue's bindings as members ``routing_key\\x06\\x16pattern\\x06\\x16queue`` of ``_kombu.binding.EXCHANGE``;
and a delivered, unacked message in the ``unacked`` hash (tag → ``[payload, exchange, routing_key]``)
and the ``unacked_index`` sorted set (tag → delivery time), from which a consumer's sweep restores
it after ``visibility_timeout``. A taken chunk is moved into those two, as kombu's ``basic_get``
would; removed for good, it leaves them as kombu's ack does. Keys carry the transport's
``global_keyprefix``. Checked against kombu 5.7.0.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator, Iterator
from typing import Any

import redis

from project.broker.queues import CHUNK, QueueCounts, QueuedJob, job_of

# Celery's own exchanges (remote control, its replies, events): their queues hold no jobs.
_CELERY_EXCHANGES = ("celery.pidbox", "reply.celery.pidbox", "celeryev")

# Holds up to ARGV[1] of the messages of list KEYS[1] (only those of task ARGV[2], '' for all), the
# oldest first, starting right after the element ARGV[3] (the last one left there by the previous
# call; '' to start at the right end). A held message moves to the unacked hash KEYS[2] and index
# KEYS[3] at time ARGV[4], restorable to queue ARGV[5] (a JSON string) by kombu. Taking from the
# middle marks the element with the tombstone ARGV[6] and removes the tombstones at the end.
# Returns {1 when the list has nothing left to look at, the last element left, held messages...}.
_TAKE = """
local list, limit, task, kept = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3]
local offset = 0
if kept ~= '' then
  local position = redis.call('LPOS', list, kept, 'RANK', -1)
  if position then offset = redis.call('LLEN', list) - position end
end
local window = redis.call('LRANGE', list, -(offset + limit), -(offset + 1))
local result = {#window < limit and 1 or 0, kept}
local held = 0
for i = #window, 1, -1 do
  local raw = window[i]
  local ok, message = pcall(cjson.decode, raw)
  local tag = ok and type(message) == 'table' and type(message.properties) == 'table'
    and message.properties.delivery_tag
  local name = tag and type(message.headers) == 'table' and message.headers.task
  if tag and (task == '' or name == task) then
    redis.call('LSET', list, -(offset + #window - i + 1), ARGV[6])
    redis.call('HSET', KEYS[2], tag, '[' .. raw .. ', "", ' .. ARGV[5] .. ']')
    redis.call('ZADD', KEYS[3], ARGV[4], tag)
    held = held + 1
    result[#result + 1] = raw
  else
    result[2] = raw
  end
end
if held > 0 then redis.call('LREM', list, -held, ARGV[6]) end
return result
"""


class RedisQueues:
    """``QueueAccess`` (project/broker/queues.py) over a kombu Redis channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.prefix: str = channel.global_keyprefix or ""
        self.client = redis.Redis(connection_pool=channel.pool)  # kombu's may add the prefix to some commands only
        self.unacked = self.prefix + channel.unacked_key
        self.unacked_index = self.prefix + channel.unacked_index_key
        self._reserved_counts: dict[str, int] | None = None  # read once per listing

    def _lists(self, queue: str) -> list[str]:
        """The Redis lists of ``queue``, one per priority step, the first delivered first."""
        return [self.prefix + self.channel._q_for_pri(queue, step) for step in self.channel.priority_steps]

    def _bindings(self) -> dict[str, list[tuple[str, str]]]:
        """Exchange → [(routing key, queue)] of every exchange that routes jobs."""
        pattern = self.prefix + self.channel.keyprefix_queue % "*"
        start = len(self.prefix + self.channel.keyprefix_queue % "")
        tables = {}
        for key in self.client.scan_iter(match=pattern, count=1000):
            exchange = _text(key)[start:]
            if exchange not in _CELERY_EXCHANGES:
                members = (_text(member).split(self.channel.sep) for member in self.client.smembers(key))
                tables[exchange] = [(parts[0], parts[-1]) for parts in members if len(parts) == 3]
        return tables

    def queue_names(self) -> set[str]:
        """The queues bound to a job exchange whose lists hold messages, and those with unacked ones."""
        bound = {queue for table in self._bindings().values() for _, queue in table}
        names = sorted(bound)
        with self.client.pipeline(transaction=False) as pipe:
            for queue in names:
                pipe.exists(*self._lists(queue))
            found = pipe.execute()
        return {queue for queue, lists in zip(names, found, strict=True) if lists} | set(self._reserved())

    def _reserved(self) -> dict[str, int]:
        """Unacked messages per queue, read once from kombu's ``unacked`` hash (as many as workers hold)."""
        if self._reserved_counts is None:
            self._reserved_counts = self._read_reserved()
        return self._reserved_counts

    def _read_reserved(self) -> dict[str, int]:
        tables: dict[str, list[tuple[str, str]]] | None = None
        reserved: dict[str, int] = {}
        for _, value in self.client.hscan_iter(self.unacked, count=1000):
            try:
                _, exchange, routing_key = json.loads(value)
            except (ValueError, TypeError):
                continue
            if exchange:
                tables = self._bindings() if tables is None else tables
                queues = [queue for key, queue in tables.get(exchange, []) if key == routing_key]
            else:  # the default exchange: the routing key is the queue
                queues = [routing_key]
            for queue in queues:
                reserved[queue] = reserved.get(queue, 0) + 1
        return reserved

    def counts(self, queue: str) -> QueueCounts:
        """LLEN of each priority list; the unacked messages routed to it; no consumers (Redis has none)."""
        with self.client.pipeline(transaction=False) as pipe:
            for key in self._lists(queue):
                pipe.llen(key)
                pipe.lindex(key, -1)
            replies = pipe.execute()
        heads = [job_of(head) for head in replies[1::2] if head is not None]
        return QueueCounts(
            queue, sum(replies[::2]), self._reserved().get(queue, 0), None, [job.id for job in heads if job]
        )

    def peek(self, queue: str, task: str | None) -> Iterator[QueuedJob]:
        """The waiting jobs, read from the right end of each list in windows of CHUNK."""
        for key in self._lists(queue):
            end = -1
            while window := self.client.lrange(key, end - CHUNK + 1, end):
                for raw in reversed(window):
                    job = job_of(raw)
                    if job is not None and (task is None or job.name == task):
                        yield job
                if len(window) < CHUNK:
                    break
                end -= CHUNK

    def take(self, queue: str, task: str | None) -> Generator[list[QueuedJob]]:
        """The waiting jobs, held a chunk at a time (see project/broker/queues.py)."""
        take = self.client.register_script(_TAKE)
        tombstone = f"appctl-purge-{uuid.uuid4().hex}"
        for key in self._lists(queue):
            kept, done = "", False
            while not done:
                args: list[str | float] = [CHUNK, task or "", kept, time.time(), json.dumps(queue), tombstone]
                finished, last, *held = take(keys=[key, self.unacked, self.unacked_index], args=args)
                done, kept = bool(finished), _text(last)
                if not held:
                    continue
                messages = [json.loads(raw) for raw in held]
                tags = [message["properties"]["delivery_tag"] for message in messages]
                try:
                    yield [job for job in map(job_of, messages) if job is not None]
                except GeneratorExit:
                    self._put_back(key, held, tags)
                    raise
                self._forget(tags)

    def _put_back(self, key: str, held: list[bytes], tags: list[str]) -> None:
        """Return held messages to the front of their list, the oldest first in line."""
        self._forget(tags, put_back=(key, held))

    def _forget(self, tags: list[str], put_back: tuple[str, list[bytes]] | None = None) -> None:
        """Remove held messages from kombu's unacked hash and index (its ack), first pushing them back if asked."""
        with self.client.pipeline(transaction=True) as pipe:
            if put_back is not None:
                pipe.rpush(put_back[0], *reversed(put_back[1]))
            pipe.zrem(self.unacked_index, *tags)
            pipe.hdel(self.unacked, *tags)
            pipe.execute()


def _text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value
