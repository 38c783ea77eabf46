"""The scheme outbox: a watched folder where back office drops schemes and meter lists."""

from hhu_sync.outbox.processor import OutboxProcessor, Outcome
from hhu_sync.outbox.watcher import OutboxWatcher, ReadyFiles

__all__ = ["OutboxProcessor", "OutboxWatcher", "Outcome", "ReadyFiles"]
