"""The agent's turn from start to end: take in the user's message (plan, re-plan or answer a
question), run the plan's steps, deliver the result; end waiting when the user or an
approval must answer first.

Every event published here carries a dedupe key made of the turn id and the step or tool
call it belongs to, and the memory is checkpointed after every tool result: a turn redone
after a worker crash resumes from the checkpoint and republishes nothing already stored.
"""

from __future__ import annotations

import time
from typing import Any

from sandboxes.services import sandbox_acquire_start, sandbox_give_back
from sessions import eventlog
from sessions.events import FileInfo, MessageEvent
from sessions.models import Session

from .. import prompts
from ..attachments import attachments_to_sandbox
from ..llm import LLMStopped
from ..memory import memory_checkpoint, memory_load
from ..model_choice import llm_for_turn
from ..models import Turn
from ..runtime import TurnContext, TurnOutcome, TurnStopped
from .budget import turn_deadline
from .delivery import Delivery
from .executor import Executor, _Waiting
from .planner import Planner


def run_agent(ctx: TurnContext) -> TurnOutcome:
    session = Session.objects.only("owner_id").get(pk=ctx.session_id)
    turn = Turn.objects.only("started_at", "resume_count").get(pk=ctx.turn_id)
    started = turn.started_at.timestamp() if turn.started_at else time.time()
    llm = llm_for_turn(session_id=ctx.session_id, turn_id=ctx.turn_id)  # no model, no sandbox
    # The sandbox starts while the model plans; a turn that ends without a plan gives it back.
    sandbox = sandbox_acquire_start(session_id=ctx.session_id)
    agent: Agent | None = None
    try:
        agent = Agent(
            ctx=ctx,
            state=memory_load(session_id=ctx.session_id),
            sandbox=sandbox,
            owner_id=session.owner_id,
            llm=llm,
            deadline=turn_deadline(started),
            resume_count=turn.resume_count,
        )
        return agent.run()
    except (TurnStopped, LLMStopped):
        if agent is not None:
            agent.interrupt_commands()
        raise
    finally:
        if agent is None or agent.state.plan is None:
            sandbox.abandon(sandbox_give_back)
        if agent is not None:
            if agent.env.browser is not None:
                agent.env.browser.close()
            agent.reach.close()


class Agent(Planner, Executor, Delivery):
    """One agent turn; its parts are the planner, the executor and the delivery."""

    # --- the flow -----------------------------------------------------------------

    def run(self) -> TurnOutcome:
        state = self.state
        if self.ctx.resumed:
            self._publish_resumed()
        if state.turn_id != self.ctx.turn_id:
            state.turn_rounds = 0  # a new turn gets the whole budget; a resumed one keeps its count
        if self.reach.resumes_approval():
            state.turn_id = self.ctx.turn_id  # a decided approval: the plan carries on
        if state.turn_id != self.ctx.turn_id or self.ctx.message_seq > state.handled_message_seq:
            self.reach.on_new_message()
            self._take_in_message()
        try:
            while True:
                self._tick()
                if state.phase == "executing":
                    step = state.plan.next_pending() if state.plan else None
                    if step is None:
                        state.phase = "summarizing"
                        continue
                    self._run_step(step)
                elif state.phase == "summarizing":
                    self._deliver()
                    return TurnOutcome.COMPLETED
                else:
                    return TurnOutcome.COMPLETED
        except _Waiting:
            return TurnOutcome.WAITING

    def _take_in_message(self) -> None:
        """A new user message: the answer to a question, a change of plan, or a new task."""
        state = self.state
        user_event = self._user_event()
        attached = [FileInfo.model_validate(a) for a in (user_event or {}).get("attachments", [])]
        paths = attachments_to_sandbox(sandbox=self.sandbox, owner_id=self.env.owner_id, files=attached)
        message = self.ctx.message
        if paths:
            message += "\n\n[Attached files: " + ", ".join(paths) + "]"
        if state.pending_ask is not None and state.phase == "executing":
            self._close_dangling(answer_for=state.pending_ask, answer=prompts.ANSWER_PROMPT.format(message=message))
            state.pending_ask = None
        elif state.phase in ("executing", "summarizing") and state.plan is not None:
            self._close_dangling()
            self._replan(prompts.REPLAN_INTERRUPT_PROMPT.format(message=message))
        else:
            self._plan(message)
        state.turn_id, state.handled_message_seq = self.ctx.turn_id, self.ctx.message_seq
        memory_checkpoint(state)

    def _user_event(self) -> dict[str, Any] | None:
        events = eventlog.events_after(
            self.ctx.session_id, self.ctx.message_seq - 1, up_to_seq=self.ctx.message_seq, limit=1
        )
        return events[0] if events and events[0]["type"] == "message" else None

    def _publish_resumed(self) -> None:
        plan = self.state.plan
        step = plan.next_pending() if plan else None
        note = prompts.RESUMED_NOTE.format(step_id=step.id if step else "-")
        self.ctx.publish(
            MessageEvent(role="assistant", content=note), dedupe_key=f"{self.key}:resumed:{self.resume_count}"
        )
