"""The EAS queue emulator's in-memory queues: items, consumer groups, window-limited dispatch and commits.

One `EasQueue` per queue name (a service's input queue or its sink). Items get indexes from 1 in put order and
are read by priority then index. Consumers (one per watch socket) join a group; `dispatch` hands each waiting item
to one live consumer of each group whose window has room and whose tag filter matches, and the item stays pending
for that consumer until it is committed (deleted), negatively committed (given back to the group) or the consumer
leaves (given back at once). `search` and `attributes` answer `_search_` and `_attrs_` as the real service shapes
them (protocols/eas-queue.md). The HTTP and websocket side that drives these queues is eas.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from tui.sim.queue_proto import Frame

HEADER_UID = "X-EAS-QueueService-Redis-Uid"
HEADER_GID = "X-EAS-QueueService-Redis-Gid"
HEADER_PRIORITY = "X-EAS-QueueService-Priority"
DEFAULT_GROUP = "eas"
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
APPROX_MAX_LENGTH = 1_000_000
# The SDK's read timeout is 5 s: a long-poll must answer well before it or the client retries 6 times and fails.
MAX_LONG_POLL_SECONDS = 4.0


@dataclass
class QueueItem:
    index: int
    data: bytes
    tags: dict[str, str]
    priority: int = 0
    path: str = ""  # the input POST's sub-path, e.g. "api_prompt"; "" for a plain put
    enqueued_at: float = field(default_factory=time.time)

    def frame(self, *, index_only: bool = False) -> Frame:
        return Frame(index=self.index, tags=self.tags, data=b"" if index_only else self.data)


class Consumer:
    """One member of a consumer group: a websocket watcher or an in-process worker.

    `send` must not block (it queues the item for the connection's sender); `is_alive` tells dispatch whether the
    connection can still take items (so nothing is pushed into a socket the client already shut down).
    """

    def __init__(
        self,
        *,
        gid: str,
        uid: str,
        window: int,
        auto_commit: bool,
        send: Callable[[QueueItem], None],
        is_alive: Callable[[], bool] = lambda: True,
        start_index: int = 0,
        index_only: bool = False,
        tag_filter: Mapping[str, str] | None = None,
        on_replaced: Callable[[], None] | None = None,
    ) -> None:
        self.gid = gid
        self.uid = uid
        self.window = max(window, 1)
        self.auto_commit = auto_commit
        self.send = send
        self.is_alive = is_alive
        self.start_index = start_index
        self.index_only = index_only
        self.tag_filter = dict(tag_filter or {})
        self.on_replaced = on_replaced
        self.pending: dict[int, None] = {}  # delivered, not committed (ordered set)
        self.last_index = 0
        self.last_activity = time.monotonic()

    @property
    def consumer_id(self) -> str:
        return f"{self.gid}.{self.uid}"

    def has_room(self) -> bool:
        # With auto-commit the window is ignored (JAVA README): items are deleted as they are sent.
        return self.auto_commit or len(self.pending) < self.window

    def accepts(self, item: QueueItem) -> bool:
        if item.index < self.start_index:
            return False
        return all(item.tags.get(key) == value for key, value in self.tag_filter.items())


class ConsumerGroup:
    """Within a group each item goes to one consumer; every group sees every item (until it is deleted)."""

    def __init__(self, gid: str) -> None:
        self.gid = gid
        self.consumers: dict[str, Consumer] = {}
        self.owner: dict[int, Consumer] = {}  # item index → the consumer holding it
        self.next_turn = 0


class EasQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.next_index = 1
        # Items per priority level, each in index order; higher levels are delivered first.
        self._levels: dict[int, dict[int, QueueItem]] = {}
        self._priority_of: dict[int, int] = {}
        self.groups: dict[str, ConsumerGroup] = {}
        self._put_signal = asyncio.Event()
        self.closing = False  # set while the server shuts down: long-polls answer at once
        # Called with every item stored by `put` (tests count what the queue received).
        self.put_observers: list[Callable[[QueueItem], None]] = []

    # ----- storage -----
    def __len__(self) -> int:
        return len(self._priority_of)

    def item(self, index: int) -> QueueItem | None:
        level = self._priority_of.get(index)
        return None if level is None else self._levels[level].get(index)

    def ordered(self) -> Iterator[QueueItem]:
        """Delivery order: FIFO by index, higher `_priority_` first."""
        for level in sorted(self._levels, reverse=True):
            yield from self._levels[level].values()

    def put(self, data: bytes, tags: Mapping[str, str] | None = None, *, priority: int = 0, path: str = "") -> QueueItem:
        item_tags = dict(tags or {})
        item_tags.setdefault("requestId", str(uuid.uuid4()))
        item = QueueItem(index=self.next_index, data=data, tags=item_tags, priority=priority, path=path)
        self.next_index += 1
        self._levels.setdefault(priority, {})[item.index] = item
        self._priority_of[item.index] = priority
        for observer in list(self.put_observers):
            observer(item)
        # Wake long-polling gets, then push to live watchers.
        self._put_signal.set()
        self._put_signal = asyncio.Event()
        self.dispatch()
        return item

    def delete(self, indexes: list[int]) -> None:
        freed = self._remove(indexes)
        if freed:
            self.dispatch()

    def _remove(self, indexes: list[int]) -> bool:
        """Drop items from storage and from every holder. True when a consumer's window slot was freed."""
        freed = False
        for index in indexes:
            level = self._priority_of.pop(index, None)
            if level is None:
                continue
            bucket = self._levels[level]
            bucket.pop(index, None)
            if not bucket:
                del self._levels[level]
            for group in self.groups.values():
                holder = group.owner.pop(index, None)
                if holder is not None and index in holder.pending:
                    del holder.pending[index]
                    freed = True
        return freed

    def commit(self, indexes: list[int]) -> None:
        """Commit = consumed and deleted, synchronously (the SDK tests check the length right after)."""
        now = time.monotonic()
        for group in self.groups.values():
            for index in indexes:
                holder = group.owner.get(index)
                if holder is not None:
                    holder.last_activity = now  # shown as Idle in the consumer list
        self._remove(indexes)
        self.dispatch()

    def negative_commit(self, indexes: list[int]) -> None:
        """Give the items back to their group so another consumer (or the same one) gets them again."""
        for group in self.groups.values():
            for index in indexes:
                holder = group.owner.pop(index, None)
                if holder is not None:
                    holder.pending.pop(index, None)
        self.dispatch()

    def truncate(self, before_index: int) -> None:
        """Delete every item whose index is smaller than `before_index`; that index itself stays."""
        self.delete([index for index in list(self._priority_of) if index < before_index])

    def find(self, *, start: int, length: int, tags: Mapping[str, str]) -> list[QueueItem]:
        found: list[QueueItem] = []
        for item in self.ordered():
            if item.index < start or any(item.tags.get(k) != v for k, v in tags.items()):
                continue
            found.append(item)
            if len(found) >= length:
                break
        return found

    async def get(
        self, *, start: int, length: int, tags: Mapping[str, str], timeout: float, auto_delete: bool
    ) -> list[QueueItem]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, min(timeout, MAX_LONG_POLL_SECONDS))
        while True:
            found = self.find(start=start, length=length, tags=tags)
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self.closing:
                break
            signal = self._put_signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        if found and auto_delete:
            self.delete([item.index for item in found])
        return found

    def wake_waiters(self) -> None:
        """Let long-polls re-check now (used at shutdown so nothing waits for its timeout)."""
        self._put_signal.set()
        self._put_signal = asyncio.Event()

    def count(self, *, tags: Mapping[str, str], priority: int | None) -> int:
        return sum(
            1
            for item in self.ordered()
            if (priority is None or item.priority == priority)
            and all(item.tags.get(k) == v for k, v in tags.items())
        )

    # ----- consumers -----
    def add_consumer(self, consumer: Consumer) -> None:
        group = self.groups.setdefault(consumer.gid, ConsumerGroup(consumer.gid))
        previous = group.consumers.get(consumer.uid)
        if previous is not None:
            # Same gid.uid again: the client reconnected before we saw the old socket go. The new one takes over
            # and gets the old one's uncommitted items.
            self._release(group, previous)
            if previous.on_replaced is not None:
                previous.on_replaced()
        group.consumers[consumer.uid] = consumer
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        group = self.groups.get(consumer.gid)
        if group is None or group.consumers.get(consumer.uid) is not consumer:
            return  # already replaced by a reconnect
        del group.consumers[consumer.uid]
        self._release(group, consumer)
        self.dispatch()

    @staticmethod
    def _release(group: ConsumerGroup, consumer: Consumer) -> None:
        for index in consumer.pending:
            if group.owner.get(index) is consumer:
                del group.owner[index]
        consumer.pending.clear()

    def dispatch(self) -> None:
        """Push every item a group has not handed out yet to a live consumer with room (round-robin)."""
        auto_committed: list[int] = []
        for group in self.groups.values():
            ready = [c for c in group.consumers.values() if c.has_room() and c.is_alive()]
            if not ready:
                continue
            for item in self.ordered():
                if item.index in group.owner:
                    continue
                chosen = None
                for offset in range(len(ready)):
                    candidate = ready[(group.next_turn + offset) % len(ready)]
                    if candidate.accepts(item):
                        chosen = candidate
                        group.next_turn = (group.next_turn + offset + 1) % max(len(ready), 1)
                        break
                if chosen is None:
                    continue
                group.owner[item.index] = chosen
                chosen.last_index = item.index
                chosen.last_activity = time.monotonic()
                if chosen.auto_commit:
                    auto_committed.append(item.index)
                else:
                    chosen.pending[item.index] = None
                chosen.send(item)
                if not chosen.has_room():
                    ready.remove(chosen)
                    if not ready:
                        break
        # Auto-commit deletes on send, after every group had its chance at the item in this pass.
        if auto_committed and self._remove(auto_committed):
            self.dispatch()

    # ----- introspection -----
    def search(self, index: int, caller_id: str) -> dict[str, object] | None:
        if self.item(index) is None:
            return None
        for group in self.groups.values():
            holder = group.owner.get(index)
            if holder is not None:
                return {"ConsumerId": holder.consumer_id, "IsPending": True, "WaitCount": 0}
        held = {i for group in self.groups.values() for i in group.owner}
        ahead = 0
        for item in self.ordered():
            if item.index == index:
                break
            if item.index not in held:
                ahead += 1
        return {"ConsumerId": caller_id, "IsPending": False, "WaitCount": ahead}

    def attributes(self) -> dict[str, str]:
        attrs = {
            "meta.name": self.name,
            "meta.maxPayloadBytes": str(MAX_PAYLOAD_BYTES),
            "meta.backend": "memory",
            "meta.state": "Normal",
            "meta.header.user": HEADER_UID,
            "meta.header.group": HEADER_GID,
            "meta.header.priority": HEADER_PRIORITY,
            "stream.length": str(len(self)),
            "stream.approxMaxLength": str(APPROX_MAX_LENGTH),
        }
        if self._priority_of:
            attrs["stream.firstEntry"] = str(min(self._priority_of))
            attrs["stream.lastEntry"] = str(max(self._priority_of))
        consumers = [c for group in self.groups.values() for c in group.consumers.values()]
        attrs["consumers.status.total"] = str(len(consumers))
        now = time.monotonic()
        for position, consumer in enumerate(consumers):
            slots = 0 if consumer.auto_commit else max(consumer.window - len(consumer.pending), 0)
            line = (
                f"Id: {consumer.consumer_id}, Index: {consumer.last_index}, Pending: {len(consumer.pending)}, "
                f"Status: {'Running' if consumer.is_alive() else 'Leaving'}, Idle: {now - consumer.last_activity:.3f}s, "
                f"Window: {0 if consumer.auto_commit else consumer.window}, Slots: {slots}, "
                f"AutoCommit: {str(consumer.auto_commit).lower()}"
            )
            if consumer.tag_filter:
                line += ", Tags: tags[" + " ".join(f"{k}={v}" for k, v in consumer.tag_filter.items()) + "]"
            attrs[f"consumers.list.[{position}]"] = line
        for position, group in enumerate(self.groups.values()):
            attrs[f"groups.list.[{position}]"] = (
                f"Id: {group.gid}, Consumers: {len(group.consumers)}, Pending: {len(group.owner)}"
            )
        return attrs

