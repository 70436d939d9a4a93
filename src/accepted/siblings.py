"""This process's place among the processes of one node (`accepted serve --workers N`).

Each process is a node of the queue (docs/architecture.md, "Serving on every
core"). The parent process makes a private run directory and hands each
child its index in it; everything the processes share lives there:

- `peer-<i>.sock`: process i's datagram socket, the node's local link
  (`store/local_link.py`), which carries between the processes what NOTIFY
  carries between PostgreSQL nodes;
- `write.lock`: the turn of SQLite write transactions (`store/sqlite_writer.py`);
- `wal-synced`: how far the SQLite WAL is known synced (`store/sqlite_walsync.py`);
- `metrics-<i>`: process i's counters, as of its last publication (`metrics_share.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Siblings:
    rundir: Path
    index: int  # this process, 0 .. count - 1; a restarted process keeps its index
    count: int

    @property
    def others(self) -> list[int]:
        return [i for i in range(self.count) if i != self.index]

    def peer(self, index: int) -> str:
        return str(self.rundir / f"peer-{index}.sock")

    @property
    def write_lock(self) -> Path:
        return self.rundir / "write.lock"

    @property
    def wal_synced(self) -> Path:
        return self.rundir / "wal-synced"

    def metrics_file(self, index: int) -> Path:
        return self.rundir / f"metrics-{index}"
