"""The conversation's collections in Mongo: the event log's indexes.

The client is the ground's adapter, `anker_project.mongo`; `ChatSessionsConfig.ready()`
registers `ensure_event_indexes` with it. `get_db` is re-exported for this app's event log.
"""

from pymongo import ASCENDING
from pymongo.database import Database

from anker_project.mongo import get_db

__all__ = ["ensure_event_indexes", "get_db"]


def ensure_event_indexes(db: Database) -> None:
    db.events.create_index([("session_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    db.events.create_index(
        [("session_id", ASCENDING), ("dedupe_key", ASCENDING)],
        unique=True,
        partialFilterExpression={"dedupe_key": {"$type": "string"}},
    )
