"""The conversation's collections in Mongo: the event log's indexes.

The client is the ground's adapter, `anker_project.mongo`; `ChatSessionsConfig.ready()`
registers `ensure_event_indexes` with it. Code that reads or writes Mongo imports
`anker_project.mongo.get_db` directly.
"""

from pymongo import ASCENDING
from pymongo.database import Database


def ensure_event_indexes(db: Database) -> None:
    db.events.create_index([("session_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    db.events.create_index(
        [("session_id", ASCENDING), ("dedupe_key", ASCENDING)],
        unique=True,
        partialFilterExpression={"dedupe_key": {"$type": "string"}},
    )
