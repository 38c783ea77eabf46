"""Stand-ins for a docking's port and link, for tests of the session's own logic."""

from __future__ import annotations

from types import SimpleNamespace


class FakePort:
    def close(self) -> None:
        pass


class DockedHHU:
    """A link whose HHU authenticates as HHU-001 and offers the uploads in ``UPLOADS``;
    a test subclasses it with the transfers it is about (coroutines, as the real link's)."""

    UPLOADS: tuple[str, ...] = ("U-1",)

    def __init__(self, *_, **__) -> None:
        pass

    async def handshake(self, _timeout):
        return SimpleNamespace(hhu_id="HHU-001", firmware="1.0", battery_pct=90,
                               free_flash=10_000,
                               uploads=[SimpleNamespace(upload_id=u) for u in self.UPLOADS])

    async def close(self, *_) -> bool:
        return True

    def give_up(self, *_) -> None:
        pass

    def cut(self) -> None:
        pass

    def release(self):
        return lambda: None
