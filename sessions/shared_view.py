"""What a share link shows: one session's timeline, read-only, and the files it references.

The events are the stored ones (as `GET /sessions/{id}` answers them, streamed tokens left out),
with every file reference narrowed to what the viewer may fetch through the link:

- a file reference is a `FileInfo` (a dict with `file_id`, `filename` and `file_url`: message
  attachments, the message toolkit's `attachments`), a browser tool's `screenshot_file_id`, or
  an MCP tool's `image_file_ids`;
- a referenced file is shown only when the session's owner owns it and has not marked it private:
  a `FileInfo` then gets the share-scoped `file_url` (`/api/v1/shared/<token>/files/<id>`), and any
  other reference is kept; otherwise the `FileInfo` is left out and the id becomes null (or leaves
  the list);
- `shared_file` serves exactly those files: an id no event of this session references is "not
  found", like a private one or another session's file.

Nothing else of the session is reachable from a link: no sandbox, no live view, no session id,
no other session. A reference of a kind not listed above is never served (the link fails closed).
"""

from __future__ import annotations

from typing import Any

from . import eventlog
from .files import StoredFile, files_by_ids
from .models import ShareLink
from .selectors import HISTORY_EXCLUDED_TYPES

# The keys that carry file ids outside a FileInfo.
FILE_ID_KEY = "screenshot_file_id"
FILE_IDS_KEY = "image_file_ids"
_LEFT_OUT = object()


def shared_file_url(token: str, file_id: str) -> str:
    return f"/api/v1/shared/{token}/files/{file_id}"


def _is_file_info(value: dict[str, Any]) -> bool:
    return isinstance(value.get("file_id"), str) and "file_url" in value and "filename" in value


def _collect(value: Any, found: set[str]) -> None:
    """Every file id referenced in `value` (see the module's docstring for what a reference is)."""
    if isinstance(value, dict):
        if _is_file_info(value):
            found.add(value["file_id"])
            return
        for key, item in value.items():
            if key == FILE_ID_KEY and isinstance(item, str):
                found.add(item)
            elif key == FILE_IDS_KEY and isinstance(item, list):
                found.update(i for i in item if isinstance(i, str))
            else:
                _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def _narrow(value: Any, shown: dict[str, StoredFile], token: str) -> Any:
    """A copy of `value` whose file references point only at `shown` files, through the link."""
    if isinstance(value, dict):
        if _is_file_info(value):
            if value["file_id"] not in shown:
                return _LEFT_OUT
            return {**value, "file_url": shared_file_url(token, value["file_id"])}
        narrowed: dict[str, Any] = {}
        for key, item in value.items():
            if key == FILE_ID_KEY and isinstance(item, str):
                narrowed[key] = item if item in shown else None
            elif key == FILE_IDS_KEY and isinstance(item, list):
                narrowed[key] = [i for i in item if isinstance(i, str) and i in shown]
            else:
                result = _narrow(item, shown, token)
                narrowed[key] = None if result is _LEFT_OUT else result
        return narrowed
    if isinstance(value, list):
        return [r for r in (_narrow(item, shown, token) for item in value) if r is not _LEFT_OUT]
    return value


def _events(link: ShareLink) -> list[dict[str, Any]]:
    return eventlog.events_after(link.session_id, 0, exclude_types=HISTORY_EXCLUDED_TYPES)


def _shown_files(link: ShareLink, events: list[dict[str, Any]]) -> dict[str, StoredFile]:
    referenced: set[str] = set()
    _collect(events, referenced)
    owned = files_by_ids(owner_id=link.session.owner_id, file_ids=referenced)
    return {file_id: stored for file_id, stored in owned.items() if not stored.private}


def shared_timeline(*, link: ShareLink, token: str) -> dict[str, Any]:
    """The session as the link shows it: `{session: {title, mode, status, created_at}, expires_at,
    events: [{event, data}]}`, events in seq order with their recorded `timestamp`s."""
    session = link.session
    events = _events(link)
    shown = _shown_files(link, events)
    return {
        "session": {
            "title": session.title,
            "mode": session.mode,
            "status": session.status,
            "created_at": int(session.created_at.timestamp()),
        },
        "expires_at": int(link.expires_at.timestamp()) if link.expires_at else None,
        "events": [{"event": ev["type"], "data": _narrow(ev, shown, token)} for ev in events],
    }


def shared_file(*, link: ShareLink, file_id: str) -> StoredFile | None:
    """The file if the link shows it (referenced by the session's events, the owner's, not private)."""
    referenced: set[str] = set()
    _collect(_events(link), referenced)
    if file_id not in referenced:
        return None
    stored = files_by_ids(owner_id=link.session.owner_id, file_ids=[file_id]).get(file_id)
    return stored if stored is not None and not stored.private else None
