"""Delivery: when every step is done, the model writes the final answer (`deliver_result`) and
the files it names, with those the steps attached, are copied from the sandbox into the
session's files and delivered with the answer in one message."""

from __future__ import annotations

import logging

from sessions.events import MessageEvent

from .. import prompts
from ..attachments import sandbox_files_to_store
from ..memory import memory_checkpoint
from ..outputs import DELIVER_RESULT
from ..tools import ToolFailedError
from .base import AgentBase

logger = logging.getLogger(__name__)


class Delivery(AgentBase):
    def _deliver(self) -> None:
        state = self.state
        assert state.plan is not None
        messages = state.executor
        if not (messages and messages[-1].get("content") == self._summary_prompt()):
            messages.append({"role": "user", "content": self._summary_prompt()})
        out = self._require_output(messages, {"deliver_result": DELIVER_RESULT})
        paths = [a["path"] for a in state.attachments if "path" in a]
        paths += [p for p in out.args.attachments if p not in paths]
        try:
            files = sandbox_files_to_store(
                sandbox=self.sandbox, owner_id=self.env.owner_id, session_id=self.ctx.session_id, paths=paths
            )
        except ToolFailedError as exc:
            logger.info("turn %s: a deliverable could not be copied: %s", self.ctx.turn_id, exc)
            files = []
            out.args.message += f"\n\n({exc})"
        self.ctx.publish(
            MessageEvent(role="assistant", content=out.args.message, attachments=files),
            dedupe_key=f"{self.key}:result",
        )
        state.phase, state.attachments = "idle", []
        memory_checkpoint(state)

    def _summary_prompt(self) -> str:
        language = self.state.plan.language if self.state.plan else ""
        return prompts.SUMMARY_PROMPT.format(language=language)
