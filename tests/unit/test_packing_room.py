"""Packing lives in one module, used by the outbox, the dock and ``hhu-sync pack`` alike.

The outbox seals deliveries before they exist; it must not need the dock (and the link,
serial and scheduler code the dock pulls in) to do it.
"""

from __future__ import annotations

import subprocess
import sys


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


def test_the_outbox_packs_without_importing_the_dock() -> None:
    loaded = _modules_after_import("hhu_sync.outbox.processor")
    assert "hhu_sync.packing" in loaded
    assert not {m for m in loaded if m == "hhu_sync.dock" or m.startswith("hhu_sync.dock.")}


def test_the_dock_the_outbox_and_the_cli_share_one_packer() -> None:
    from hhu_sync.cli import transfer_cmds
    from hhu_sync.dock import session
    from hhu_sync.outbox import examine
    from hhu_sync.packing import Packer, PackError, pack_meter_list, pack_quick_send

    assert session.Packer is Packer and session.PackError is PackError
    assert examine.Packer is Packer and examine.PackError is PackError
    assert transfer_cmds.pack_quick_send is pack_quick_send
    assert transfer_cmds.pack_meter_list is pack_meter_list
