"""Agent mode: a planner makes a plan, an executor carries it out one step at a time with
tools, a failed step re-plans the rest, and a summary delivers the result.

One module a part, each a mixin of the one `Agent` a turn runs (`loop`):

- `loop`: `run_agent` and the turn's flow (take in the message, run the steps, deliver).
- `planner`: the plan and the re-plan.
- `executor`: the step loop, tool calls, waiting for the user or an approval, interrupting on a stop.
- `delivery`: the final answer and its files.
- `base`: what they share: the turn's state and the model calls.
- `budget`: the deadline, the model rounds, the text nudges, the context window (`AgentLimitError`).

Imports run loop → planner, executor, delivery → base → budget. Callers import from
`agents.agent`, which re-exports the public names below.
"""

from ..llm import ToolCall
from .budget import AgentLimitError
from .loop import run_agent

__all__ = ["AgentLimitError", "ToolCall", "run_agent"]
