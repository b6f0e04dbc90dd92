"""What every part of the agent shares: the turn's state, its tools and sandbox, and the
model calls (each one within the turn's budgets, see `budget`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydantic import ValidationError

from sandboxes.services import SandboxHandle
from sessions.events import PlanEvent, ToolEvent

from .. import prompts
from ..llm import LLM, Completion, LLMContextLengthError
from ..memory import AgentState, Message
from ..quirks import ArgumentsError, argument_problem, parse_arguments, reasoning_event
from ..reach.turn import TurnReach
from ..runtime import TurnContext, db_release
from ..tools import Tool, ToolArgs, ToolEnv, tools_available
from .budget import context_halve, deadline_check, nudges_spent, round_count

logger = logging.getLogger(__name__)


@dataclass
class _Output:
    name: str
    args: Any


class AgentBase:
    def __init__(
        self,
        *,
        ctx: TurnContext,
        state: AgentState,
        sandbox: SandboxHandle,
        owner_id: int,
        llm: LLM,
        deadline: float,
        resume_count: int,
    ) -> None:
        self.ctx, self.state, self.sandbox, self.llm = ctx, state, sandbox, llm
        self.deadline, self.resume_count = deadline, resume_count
        self.env = ToolEnv(ctx=ctx, sandbox=sandbox, owner_id=owner_id)
        self.reach = TurnReach(ctx=ctx, sandbox=sandbox, owner_id=owner_id)  # MCP, approvals, secrets
        self._sandbox_prepared = False  # secrets go in before the first tool call, not before the plan
        self.tools: dict[str, Tool[Any]] = self.reach.tools(tools_available(has_browser=sandbox.has_browser))
        self._resume_counted = False
        self.key = f"turn:{ctx.turn_id}"
        # The tool call under way, as its `calling` event showed it (to end it on a stop).
        self._open_call: ToolEvent | None = None

    def _replan(self, instruction: str) -> None:
        """Re-plan the steps not done yet (the planner's; a failed step asks for it)."""
        raise NotImplementedError

    def _publish_plan(self, tag: str) -> None:
        assert self.state.plan is not None
        steps = [s.model_copy() for s in self.state.plan.steps]
        self.ctx.publish(PlanEvent(steps=steps), dedupe_key=f"{self.key}:plan{self.state.plan_version}:{tag}")

    # --- the model ------------------------------------------------------------------

    def _tick(self) -> None:
        """Before every model call: stop requests, the step budget, the deadline."""
        self.ctx.check_stop()
        deadline_check(self.deadline)

    def _complete(self, messages: list[Message], tools: dict[str, Tool[Any]]) -> Completion:
        round_count(self.state)
        schemas = [t.schema() for t in tools.values()]
        db_release()  # the model call uses no database (its stop check is Redis): wait without a connection
        try:
            completion = self.llm.complete(
                messages, tools=schemas, tool_choice="required", should_stop=self.ctx.stop_requested
            )
        except LLMContextLengthError:
            # The model's window is smaller than AGENT_CONTEXT_TOKENS assumed: compact to half, retry once.
            if not context_halve(messages):
                raise
            logger.info("turn %s: context too long for the model; compacted and retrying", self.ctx.turn_id)
            completion = self.llm.complete(
                messages, tools=schemas, tool_choice="required", should_stop=self.ctx.stop_requested
            )
        self.ctx.add_usage(completion.prompt_tokens, completion.completion_tokens)
        thought = reasoning_event(completion.reasoning)
        if thought is not None:
            self.ctx.publish(thought)
        return completion

    def _nudge(self, messages: list[Message], completion: Completion, tools: dict[str, Tool[Any]]) -> None:
        messages.append({"role": "assistant", "content": completion.content or "(empty)"})
        messages.append({"role": "user", "content": prompts.NUDGE_PROMPT.format(tools=", ".join(tools))})

    def _require_output(self, messages: list[Message], tools: dict[str, Tool[Any]]) -> _Output:
        """Ask for one of `tools` (output tools); a text answer or bad arguments get a nudge."""
        for _attempt in range(settings.AGENT_TEXT_NUDGES + 1):
            self._tick()
            completion = self._complete(messages, tools)
            call = next((c for c in completion.tool_calls if c.name in tools), None)
            if call is None:
                self._nudge(messages, completion, tools)
                continue
            args, problem = _parse(tools[call.name], call.arguments)
            messages.append(_assistant(Completion(content=completion.content, tool_calls=[call])))
            if args is None:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": f"error: {problem}; call again"})
                continue
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "ok"})
            return _Output(call.name, args)
        raise nudges_spent(tools)


def _assistant(completion: Completion) -> Message:
    return {
        "role": "assistant",
        "content": completion.content or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in completion.tool_calls
        ],
    }


def _parse(tool: Tool[Any], arguments: str) -> tuple[ToolArgs | None, str]:
    try:
        raw = parse_arguments(arguments)
    except ArgumentsError as exc:
        return None, str(exc)
    try:
        return tool.args.model_validate(raw), ""
    except ValidationError as exc:
        return None, f"invalid arguments: {argument_problem(tool.args, exc)}"
