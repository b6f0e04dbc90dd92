"""The process table from /proc: a shell's session and every descendant, so a kill or an
interrupt reaches what a command started (also what left the session with setsid)."""

from __future__ import annotations

import os


def session_members(sid: int) -> list[int]:
    members = []
    for pid, (_, session) in process_table().items():
        if session == sid:
            members.append(pid)
    return members


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id), from /proc."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        table[int(name)] = (int(fields[1]), int(fields[3]))
    return table


def session_tree(root_pid: int) -> list[int]:
    """root_pid, every process in its session, and every descendant (some
    leave the session with setsid)."""
    table = process_table()
    found = {root_pid} | {pid for pid, (_, sid) in table.items() if sid == root_pid}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(found)
