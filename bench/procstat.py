"""CPU time and peak memory of a process, read from ``/proc`` (Linux only).

CPU is ``utime + stime`` of ``/proc/<pid>/stat`` (fields 14 and 15, in clock ticks),
children excluded; peak RSS is ``VmHWM`` of ``/proc/<pid>/status``. A process that is gone
reads as None: callers report "n/a" rather than a made-up number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds consumed so far by ``pid`` (None if unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: split after its closing parenthesis
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _status(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss_bytes(pid: int) -> int | None:
    """``VmHWM`` (peak resident set) of ``pid`` in bytes (None if unreadable)."""
    return _status(pid, "VmHWM:")


def reset_peak_rss(pid: int) -> bool:
    """Reset ``VmHWM`` of ``pid`` to its current RSS (``clear_refs`` 5, Linux 4.0+), so a
    later :func:`peak_rss_bytes` is the peak since now; False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_bytes(pid: int) -> int | None:
    """``VmRSS`` (current resident set) of ``pid`` in bytes (None if unreadable)."""
    return _status(pid, "VmRSS:")


@dataclass(slots=True)
class CpuMeter:
    """CPU seconds of one process between :meth:`start` and :meth:`stop`."""

    pid: int | None
    _start: float | None = None
    seconds: float | None = None

    def start(self) -> None:
        self._start = cpu_seconds(self.pid) if self.pid else None

    def stop(self) -> float | None:
        end = cpu_seconds(self.pid) if self.pid else None
        if end is None or self._start is None:
            self.seconds = None
        else:
            self.seconds = end - self._start
        return self.seconds
