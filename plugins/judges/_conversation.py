"""What the field's judges share beyond `ModelJudge`: sending a conversation they built themselves.

`ModelJudge.ask` fills one template with `{request}` and `{response}` and sends it as a user turn.
The fine-tuned classifiers need more than that: HarmBench's contextual prompt has a third slot,
and Llama Guard served with its own chat template wants the user and assistant turns as they are.
"""

from __future__ import annotations

from r2d_plugins.judges.llm_judge import ModelJudge

from r2d_sdk import Behavior, Judgment, Message, ModelCallError


class ConversationJudge(ModelJudge):
    """A `ModelJudge` that builds the whole conversation it sends."""

    def request_text(self, behavior: Behavior, prompt: str) -> str:
        """What the judge is told was asked: the behavior's goal or the attack prompt (`request:`)."""
        return behavior.goal if self.config.request == "goal" else prompt

    async def send(self, messages: list[Message]) -> str | Judgment:
        """The judge model's raw answer, or a failed Judgment when the call errors (never a verdict)."""
        overrides = {"max_tokens": self.config.max_tokens} if self.config.max_tokens else {}
        try:
            output = await self.judge_model.generate(messages, **overrides)
        except ModelCallError as error:
            return Judgment.failed(error.message)
        return output.text
