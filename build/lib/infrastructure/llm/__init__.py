"""LLM drafters: `OpenAIDrafter` for any OpenAI-compatible server.

`openai_stub` holds a scriptable OpenAI-compatible server for tests and benchmarks;
it is not imported here, so production code does not load it.
"""

from infrastructure.llm.openai_drafter import OpenAIDrafter, RetryPolicy

__all__ = ["OpenAIDrafter", "RetryPolicy"]
