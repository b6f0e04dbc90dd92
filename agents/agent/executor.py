"""The executor: carries out the plan one step at a time. Each step is a conversation with the
model (`AgentState.executor`) in which it calls tools until it calls `complete_step`; every
tool result is checkpointed, so a resumed turn re-runs only the calls that have no result yet.
A call may wait for the user (`message_ask_user`) or for an approval; a failed step asks the
planner for a new plan of the rest. On a stop, the commands still running are interrupted."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from pydantic import ValidationError

from sandboxes.tool_api import ToolApiError
from sessions.events import PlanStep, StepEvent, ToolEvent

from .. import prompts
from ..memory import memory_checkpoint
from ..outputs import COMPLETE_STEP, CompleteStepArgs
from ..quirks import ArgumentsError, argument_problem, parse_arguments
from ..reach.turn import ApprovalPending
from ..runtime import db_release
from ..tools import ToolFailedError
from .base import AgentBase, _assistant, _parse

logger = logging.getLogger(__name__)

INTERRUPTED_RESULT = "[not run: the task was interrupted before this call finished]"
NOT_RUN_WAITING = "[not run: waiting for the user's answer first]"


class _Waiting(Exception):  # noqa: N818 - control flow: message_ask_user ends the turn waiting
    pass


class Executor(AgentBase):
    def interrupt_commands(self) -> None:
        """The turn was stopped: Ctrl-C every command still running in the sandbox (SIGKILL after a
        grace period), and end the tool call under way with what its shell showed."""
        if self.ctx.stop_reason is None:
            return  # not a stop: this worker lost the session to another, which carries on
        if not self.sandbox.used:
            return  # no command ever ran (the sandbox may still be starting)
        try:
            data = self.sandbox.tool_api.shell_interrupt(grace_seconds=settings.AGENT_STOP_GRACE_SECONDS)
        except Exception:
            logger.warning("turn %s: could not interrupt the sandbox's commands", self.ctx.turn_id, exc_info=True)
            data = {}
        call, self._open_call = self._open_call, None
        if call is None or self.ctx.stop_reason == "deleted":
            return
        shell_id = call.args.get("id") if call.name == "shell" else None
        console = next((r.get("console") for r in data.get("interrupted", []) if r.get("id") == shell_id), None)
        content: dict[str, Any] = {"console": console} if console else {"error": "Stopped before it finished."}
        content = self.reach.redact(content)
        ended = call.model_copy(update={"status": "called", "content": content, "stopped": True})
        self.ctx.publish(ended, dedupe_key=f"{self.key}:tool:{call.tool_call_id}:called")

    # --- executing ------------------------------------------------------------------

    def _run_step(self, step: PlanStep) -> None:
        state = self.state
        assert state.plan is not None
        if step.status == "pending":
            step.status = "running"
            self._publish_step(step)
            plan_text = "\n".join(f"{s.id}. [{s.status}] {s.description}" for s in state.plan.steps)
            state.executor.append(
                {
                    "role": "user",
                    "content": prompts.STEP_PROMPT.format(
                        goal=state.plan.goal, plan=plan_text, step_id=step.id, description=step.description
                    ),
                }
            )
            memory_checkpoint(state)
        elif self.ctx.resumed and state.turn_id == self.ctx.turn_id and not self._resume_counted:
            self._resume_counted = True
            state.redone[step.id] = state.redone.get(step.id, 0) + 1
            if state.redone[step.id] > 1:
                self._finish_step(step, CompleteStepArgs(success=False, result="the worker died twice in this step"))
                return
            memory_checkpoint(state)
        nudges = 0
        while True:
            if self._dangling_calls():
                if self._run_calls(step, self._dangling_calls()):
                    return
                continue
            self._tick()
            tools = {**self.tools, "complete_step": COMPLETE_STEP}
            completion = self._complete(state.executor, tools)
            if not completion.tool_calls:
                nudges += 1
                if nudges > settings.AGENT_TEXT_NUDGES:
                    self._finish_step(
                        step, CompleteStepArgs(success=False, result="the model answered in text instead of acting")
                    )
                    return
                self._nudge(state.executor, completion, tools)
                continue
            state.executor.append(_assistant(completion))
            memory_checkpoint(state)

    def _dangling_calls(self) -> list[dict[str, Any]]:
        """Tool calls of the last assistant message that have no result yet (resuming)."""
        messages = self.state.executor
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            if message.get("role") == "tool":
                continue
            if message.get("role") != "assistant" or not message.get("tool_calls"):
                return []
            answered = {m.get("tool_call_id") for m in messages[index + 1 :]}
            return [c for c in message["tool_calls"] if c["id"] not in answered]
        return []

    def _close_dangling(self, *, answer_for: str | None = None, answer: str = "") -> None:
        for call in self._dangling_calls():
            content = answer if call["id"] == answer_for else INTERRUPTED_RESULT
            self.state.executor.append({"role": "tool", "tool_call_id": call["id"], "content": content})

    def _run_calls(self, step: PlanStep, calls: list[dict[str, Any]]) -> bool:
        """Run the calls in order, checkpointing after each. True when the step ended."""
        state = self.state
        for position, call in enumerate(calls):
            name, call_id = call["function"]["name"], call["id"]
            if name == "complete_step":
                args, problem = _parse(COMPLETE_STEP, call["function"]["arguments"])
                if args is None:
                    self._tool_result(call_id, f"error: {problem}")
                    continue
                # No checkpoint until _finish_step's: a crash in between leaves complete_step unanswered,
                # so the resumed turn re-runs it from the checkpoint instead of asking the model again.
                self._tool_result(call_id, "step recorded", checkpoint=False)
                for rest in calls[position + 1 :]:
                    self._tool_result(rest["id"], "[not run: the step was already completed]", checkpoint=False)
                assert isinstance(args, CompleteStepArgs)
                self._finish_step(step, args)
                return True
            self.ctx.check_stop()
            try:
                refused = self.reach.gate(
                    call_id=call_id, name=name, arguments=call["function"]["arguments"], reason=self._why(call_id, step)
                )
            except ApprovalPending:
                memory_checkpoint(state)
                raise _Waiting() from None
            if refused is not None:
                self._tool_result(call_id, refused)
                continue
            output, waiting = self._call_tool(call_id, name, call["function"]["arguments"])
            if waiting:
                state.pending_ask = call_id
                for rest in calls[position + 1 :]:
                    self._tool_result(rest["id"], NOT_RUN_WAITING)
                memory_checkpoint(state)
                raise _Waiting()
            self._tool_result(call_id, output)
        if images := self.reach.image_message():
            state.executor.append(images)
            memory_checkpoint(state)
        return False

    def _why(self, call_id: str, step: PlanStep) -> str:
        """What the model said with the call, else the step it works on (shown when asking approval)."""
        for message in reversed(self.state.executor):
            if any(c.get("id") == call_id for c in message.get("tool_calls") or []):
                if message.get("content"):
                    return str(message["content"])
                break
        return f"Step {step.id}: {step.description}"

    def _tool_result(self, call_id: str, content: str, *, checkpoint: bool = True) -> None:
        self.state.executor.append({"role": "tool", "tool_call_id": call_id, "content": content})
        if checkpoint:
            memory_checkpoint(self.state)

    def _call_tool(self, call_id: str, name: str, arguments: str) -> tuple[str, bool]:
        """Run one tool with `tool` events around it. Errors go back to the model as its result."""
        # A tool call, and the first one's wait for the sandbox (whose start needs a connection of
        # its own from the same pool), may take seconds to minutes: wait without a connection.
        db_release()
        if not self._sandbox_prepared:  # the first call waits for the sandbox (it started with the plan)
            self._sandbox_prepared = True
            self.reach.prepare_sandbox()
        tool = self.tools.get(name)
        toolkit = tool.toolkit if tool else name.split("_", 1)[0]
        try:
            raw: dict[str, Any] | None = parse_arguments(arguments)  # with one repair round
            shown: dict[str, Any] = dict(raw or {})
            problem = ""
        except ArgumentsError as exc:
            raw, shown, problem = None, {"raw": arguments[:2000]}, str(exc)
        shown = self.reach.redact(shown)
        calling = ToolEvent(tool_call_id=call_id, name=toolkit, function=name, args=shown, status="calling")
        self.ctx.publish(calling, dedupe_key=f"{self.key}:tool:{call_id}:calling")
        self._open_call = calling
        waiting, content = False, None
        if tool is None:
            error = f"unknown tool '{name}'. Available tools: {', '.join([*self.tools, 'complete_step'])}."
        elif raw is None:
            error = f"{problem}."
        else:
            error = None
            try:
                args = tool.args.model_validate(raw)
                self.env.call_id = call_id
                result = tool.run(self.env, args)
                output, content, waiting = result.output, result.content, result.ends_turn_waiting
                self.reach.keep_images(name, result.images)
            except ValidationError as exc:
                error = f"invalid arguments for {name}: {argument_problem(tool.args, exc)}"
            except ToolApiError as exc:
                error = f"the sandbox refused {name} (HTTP {exc.status}): {exc.message}"
            except ToolFailedError as exc:
                error = str(exc)
        if error is not None:
            output, content = f"error: {error}", {"error": error}
        output, content = self.reach.redact(output), self.reach.redact(content)
        self._open_call = None
        self.ctx.publish(
            ToolEvent(tool_call_id=call_id, name=toolkit, function=name, args=shown, status="called", content=content),
            dedupe_key=f"{self.key}:tool:{call_id}:called",
        )
        return output, waiting

    def _finish_step(self, step: PlanStep, args: CompleteStepArgs) -> None:
        state = self.state
        step.status = "completed" if args.success else "failed"
        step.result = args.result
        for path in args.attachments:
            if path not in state.attachments:
                state.attachments.append({"path": path})
        self._publish_step(step)
        if not args.success:
            memory_checkpoint(state)
            self._replan(
                prompts.REPLAN_FAILED_PROMPT.format(step_id=step.id, description=step.description, result=args.result)
            )
        memory_checkpoint(state)

    def _publish_step(self, step: PlanStep) -> None:
        self.ctx.publish(
            StepEvent(id=step.id, description=step.description, status=step.status, result=step.result),
            dedupe_key=f"{self.key}:step:{step.id}:{step.status}",
        )
        self._publish_plan(f"{step.id}:{step.status}")
