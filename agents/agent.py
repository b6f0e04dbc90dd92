"""Agent mode: a planner makes a plan, an executor carries it out one step at a time with
tools, a failed step re-plans the rest, and a summary delivers the result.

Every event published here carries a dedupe key made of the turn id and the step or tool
call it belongs to, and the memory is checkpointed after every tool result: a turn redone
after a worker crash resumes from the checkpoint and republishes nothing already stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydantic import ValidationError

from sandboxes.services import SandboxHandle, sandbox_acquire_start, sandbox_give_back
from sandboxes.tool_api import ToolApiError
from sessions import eventlog
from sessions.events import FileInfo, MessageEvent, PlanEvent, PlanStep, StepEvent, TitleEvent, ToolEvent
from sessions.models import Session

from . import prompts
from .attachments import attachments_to_sandbox, sandbox_files_to_store
from .llm import LLM, Completion, LLMContextLengthError, LLMStopped, ToolCall
from .memory import AgentState, Message, Plan, compact, estimate_tokens, memory_checkpoint, memory_load
from .model_choice import llm_for_turn
from .models import Turn
from .outputs import COMPLETE_STEP, CREATE_PLAN, DELIVER_RESULT, UPDATE_PLAN, CompleteStepArgs, StepSpec
from .quirks import ArgumentsError, argument_problem, parse_arguments, reasoning_event
from .reach.turn import ApprovalPending, TurnReach
from .runtime import TurnContext, TurnOutcome, TurnStopped
from .tools import Tool, ToolArgs, ToolEnv, ToolFailedError, tools_available

logger = logging.getLogger(__name__)

INTERRUPTED_RESULT = "[not run: the task was interrupted before this call finished]"
NOT_RUN_WAITING = "[not run: waiting for the user's answer first]"


class AgentLimitError(Exception):
    """The turn hit AGENT_MAX_STEPS or TURN_DEADLINE_SECONDS; `user_message` says which."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class _Waiting(Exception):  # noqa: N818 - control flow: message_ask_user ends the turn waiting
    pass


@dataclass
class _Output:
    name: str
    args: Any


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
            deadline=started + settings.TURN_DEADLINE_SECONDS,
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


class Agent:
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

    # --- planning -----------------------------------------------------------------

    def _system(self, template: str) -> str:
        language = self.state.plan.language if self.state.plan else "the language the user writes in"
        return (
            template.format(
                tools=", ".join(self.tools),
                home=self.sandbox.home,
                browser_line=prompts.BROWSER_LINE if self.sandbox.has_browser else prompts.NO_BROWSER_LINE,
                network_line=prompts.NETWORK_LINES[self.sandbox.network],
                search_line=prompts.SEARCH_LINE if "info_search_web" in self.tools else prompts.NO_SEARCH_LINE,
                language=language,
            )
            + self.reach.system_note()
        )

    def _planner_messages(self, user_text: str) -> list[Message]:
        if not self.state.planner:
            self.state.planner = [{"role": "system", "content": self._system(prompts.PLANNER_PROMPT)}]
        self.state.planner.append({"role": "user", "content": user_text})
        return self.state.planner

    def _plan(self, message: str) -> None:
        state = self.state
        messages = self._planner_messages(message)
        out = self._require_output(messages, {"create_plan": CREATE_PLAN})
        args = out.args
        state.plan_version += 1
        state.plan = Plan(title=args.title, goal=args.goal, language=args.language, steps=self._new_steps(args.steps))
        state.phase, state.attachments, state.redone = "executing", [], {}
        version = f"{self.key}:plan{state.plan_version}"
        if self.ctx.needs_title:
            self.ctx.publish(TitleEvent(title=args.title), dedupe_key=f"{self.key}:title")
        self.ctx.publish(MessageEvent(role="assistant", content=args.message), dedupe_key=f"{version}:message")
        self._publish_plan("created")
        # The executor starts each plan with the same system prompt and the goal.
        state.executor = [{"role": "system", "content": self._system(prompts.EXECUTOR_PROMPT)}]

    def _new_steps(self, specs: list[StepSpec]) -> list[PlanStep]:
        steps = []
        for spec in specs:
            steps.append(PlanStep(id=str(self.state.next_step_id), description=spec.description))
            self.state.next_step_id += 1
        return steps

    def _replan(self, instruction: str) -> None:
        state = self.state
        assert state.plan is not None
        messages = self._planner_messages(instruction)
        out = self._require_output(messages, {"update_plan": UPDATE_PLAN})
        done = [s for s in state.plan.steps if s.status in ("completed", "failed")]
        state.plan_version += 1
        state.plan.steps = done + self._new_steps(out.args.steps)
        state.phase = "executing"
        self._publish_plan("updated")

    def _publish_plan(self, tag: str) -> None:
        assert self.state.plan is not None
        steps = [s.model_copy() for s in self.state.plan.steps]
        self.ctx.publish(PlanEvent(steps=steps), dedupe_key=f"{self.key}:plan{self.state.plan_version}:{tag}")

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

    # --- delivering -----------------------------------------------------------------

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

    # --- the model ------------------------------------------------------------------

    def _tick(self) -> None:
        """Before every model call: stop requests, the step budget, the deadline."""
        self.ctx.check_stop()
        if time.time() > self.deadline:
            raise AgentLimitError(
                f"The task ran longer than TURN_DEADLINE_SECONDS ({settings.TURN_DEADLINE_SECONDS} s) and was "
                "ended. Send a message to continue from where it stopped."
            )

    def _complete(self, messages: list[Message], tools: dict[str, Tool[Any]]) -> Completion:
        self.state.turn_rounds += 1
        if self.state.turn_rounds > settings.AGENT_MAX_STEPS:
            raise AgentLimitError(
                f"The task used its {settings.AGENT_MAX_STEPS} model rounds (AGENT_MAX_STEPS) and was ended. "
                "Send a message to continue from where it stopped, or raise AGENT_MAX_STEPS."
            )
        schemas = [t.schema() for t in tools.values()]
        try:
            completion = self.llm.complete(
                messages, tools=schemas, tool_choice="required", should_stop=self.ctx.stop_requested
            )
        except LLMContextLengthError:
            # The model's window is smaller than AGENT_CONTEXT_TOKENS assumed: compact to half, retry once.
            smaller = compact(messages, budget=estimate_tokens(messages) // 2)
            if estimate_tokens(smaller) >= estimate_tokens(messages):
                raise
            logger.info("turn %s: context too long for the model; compacted and retrying", self.ctx.turn_id)
            messages[:] = smaller
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
        raise AgentLimitError(
            f"The model did not call {' or '.join(tools)} after {settings.AGENT_TEXT_NUDGES + 1} attempts, so the "
            "task could not go on. Try again, or use a model with reliable tool calling."
        )


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


__all__ = ["AgentLimitError", "ToolCall", "run_agent"]
