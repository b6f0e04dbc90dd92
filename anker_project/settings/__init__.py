"""Anker settings, split by component. Every value comes from the environment (or `.env`)."""

from .agent import *  # noqa: F403
from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .edge import *  # noqa: F403
from .jobs import *  # noqa: F403
from .reach import *  # noqa: F403
from .realtime import *  # noqa: F403
from .security import *  # noqa: F403
from .worker import *  # noqa: F403
