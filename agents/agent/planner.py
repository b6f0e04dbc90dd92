"""The planner: makes the plan from the user's message, and re-plans the steps not done yet
when a step fails or a new message changes the task. It keeps its own message history
(`AgentState.planner`) and sets up the executor's for each new plan."""

from __future__ import annotations

from sessions.events import MessageEvent, PlanStep, TitleEvent

from .. import prompts
from ..memory import Message, Plan
from ..outputs import CREATE_PLAN, UPDATE_PLAN, StepSpec
from .base import AgentBase


class Planner(AgentBase):
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
