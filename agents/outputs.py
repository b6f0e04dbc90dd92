"""The agent's output tools: how the planner and executor hand back structured results.

They are offered like tools (native tool calling, `tool_choice="required"`) but run no
code: the agent reads their validated arguments.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .tools.base import Tool, ToolArgs, ToolEnv, ToolResult

MAX_PLAN_STEPS = 12


class StepSpec(BaseModel):
    description: str = Field(min_length=1, description="What to do in this step, concretely.")


class CreatePlanArgs(ToolArgs):
    message: str = Field(description="A short note to the user, in their language, on what you are going to do.")
    title: str = Field(max_length=80, description="A short title of the task.")
    goal: str = Field(description="The goal of the task in one sentence.")
    language: str = Field(description="The user's language, e.g. 'English' or 'Deutsch'.")
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_PLAN_STEPS)


class UpdatePlanArgs(ToolArgs):
    steps: list[StepSpec] = Field(max_length=MAX_PLAN_STEPS, description="The steps still to do (may be empty).")


class CompleteStepArgs(ToolArgs):
    success: bool = Field(description="Whether the step was done.")
    result: str = Field(description="What came out of the step, briefly; why it failed if it did.")
    attachments: list[str] = Field(default_factory=list, description="Absolute sandbox paths of files produced.")


class DeliverResultArgs(ToolArgs):
    message: str = Field(description="The final answer to the user, in their language (Markdown).")
    attachments: list[str] = Field(default_factory=list, description="Absolute sandbox paths of files to deliver.")


def _never_run(env: ToolEnv, args: Any) -> ToolResult:  # output tools are read, not run
    raise AssertionError("output tools are not run")


def _output(name: str, description: str, args: type[ToolArgs]) -> Tool[Any]:
    return Tool(name, "agent", description, args, _never_run)


CREATE_PLAN = _output("create_plan", "Create the plan for the user's request.", CreatePlanArgs)
UPDATE_PLAN = _output("update_plan", "Replace the remaining (not yet completed) steps of the plan.", UpdatePlanArgs)
COMPLETE_STEP = _output("complete_step", "Finish the current step (successfully or not).", CompleteStepArgs)
DELIVER_RESULT = _output("deliver_result", "Deliver the final result to the user.", DeliverResultArgs)
