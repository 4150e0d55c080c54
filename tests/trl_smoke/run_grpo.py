"""TRL's GRPOTrainer on the CPU with sqldebug's rewards: a tiny random model, nothing downloaded.

Run in the smoke venv (torch CPU, transformers, trl, datasets, tokenizers, sqldebug):

    python tests/trl_smoke/run_grpo.py OUT_DIR

Two runs of two steps each:

1. single-turn: text prompts from ``make_dataset``, ``reward_functions(components=True)`` (one
   function per reward component), a spy recording what TRL passes to a reward function;
2. multi-turn: chat prompts, ``environment_factory()`` (tools and ``get_reward``), with the Qwen3
   chat template that TRL knows how to parse tool calls from.

The model is a two-layer Llama built from a config with random weights; the tokenizer is a BPE
trained here on the task text. Prints one JSON line (and writes OUT_DIR/result.json) with what
the test checks: the logged metrics, the calls the spy saw, the environments' rewards.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer
from trl.chat_template_utils import qwen3_chat_template

import sqldebug
from sqldebug.integrations.trl import (
    COMPONENTS,
    SQLDebugReward,
    environment_factory,
    make_dataset,
    reward_functions,
)

TASKS = ["shop/top-products-ties", "hr/february-payroll-leap-day"]
TASK_MODELS = [t for t in sqldebug.load_tasks(split=None) if t.id in TASKS]
SPECIAL = [
    "<pad>",
    "<s>",
    "</s>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
]


def build_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on ``texts`` (the task prompts and solutions)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        padding_side="left",
    )
    fast.add_special_tokens({"additional_special_tokens": SPECIAL[3:]})
    fast.chat_template = qwen3_chat_template
    return fast


class ScriptedLlama(LlamaForCausalLM):
    """A random two-layer Llama whose ``generate`` follows a script instead of sampling.

    Training still runs the real forward pass (log-probabilities, loss, gradients); only the
    text of the rollouts is scripted, so that the rewards are known: in each GRPO group the
    first completion answers with the task's solution (in a ```sql block, or as a
    ``submit_sql`` tool call in tool mode) and the second answers without SQL.
    """

    tokenizer: Any = None
    tools = False

    def generate(self, input_ids: Any = None, attention_mask: Any = None, **_: Any) -> Any:
        texts = self.tokenizer.batch_decode(input_ids, skip_special_tokens=False)
        rows = []
        for row, text in enumerate(texts):
            rows.append(self.tokenizer.encode(self.script(text, row), add_special_tokens=False))
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        padded = [r + [pad] * (width - len(r)) for r in rows]
        completion = torch.tensor(padded, dtype=input_ids.dtype, device=input_ids.device)
        return torch.cat([input_ids, completion], dim=1)

    def script(self, text: str, row: int) -> str:
        end = "<|im_end|>"
        last_turn = text[max(text.rfind("<|im_start|>"), 0) :]
        if "<tool_response>" in last_turn or row % 2 == 1:
            return "I am not sure what to change." + end
        task = next(t for t in TASK_MODELS if t.broken.strip() in text)
        if self.tools:
            call = {"name": "submit_sql", "arguments": {"sql": task.solution.strip()}}
            return f"<tool_call>\n{json.dumps(call)}\n</tool_call>" + end
        return f"The fix:\n```sql\n{task.solution.strip()}\n```" + end


def tiny_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=16384,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def build_model(tokenizer: PreTrainedTokenizerFast, *, tools: bool = False) -> ScriptedLlama:
    torch.manual_seed(0)
    model = ScriptedLlama(tiny_config(tokenizer))
    model.tokenizer = tokenizer
    model.tools = tools
    return model


def save_plain_model(tokenizer: PreTrainedTokenizerFast, where: Path) -> None:
    """A random tiny Llama and the tokenizer as a model folder, for examples/grpo_train.py."""
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_config(tokenizer)).save_pretrained(where)
    tokenizer.save_pretrained(where)


class Spy(SQLDebugReward):
    """The total reward, recording the keyword arguments TRL calls it with."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __call__(
        self,
        prompts: Any = None,
        completions: Any = None,
        completion_ids: Any = None,
        **columns: Any,
    ) -> Any:
        rewards = super().__call__(prompts, completions, completion_ids, **columns)
        Spy.calls.append(
            {
                "n": len(completions or []),
                "prompt_type": type((prompts or [None])[0]).__name__,
                "completion_type": type((completions or [None])[0]).__name__,
                "completion_ids": completion_ids is not None and len(completion_ids),
                "columns": sorted(columns),
                "task_ids": list(columns.get("task_id", [])),
                "seeds": list(columns.get("seed", [])),
                "rewards": rewards,
            }
        )
        return rewards


def config(out: Path, name: str, **extra: Any) -> GRPOConfig:
    return GRPOConfig(
        output_dir=str(out / name),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=1024,
        learning_rate=1e-3,
        use_cpu=True,
        bf16=False,
        fp16=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
        **extra,
    )


def metrics(trainer: GRPOTrainer) -> dict[str, float]:
    merged: dict[str, float] = {}
    for entry in trainer.state.log_history:
        merged.update({k: v for k, v in entry.items() if isinstance(v, (int, float))})
    return merged


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "trl-smoke-out")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    texts_ds = make_dataset(task_ids=TASKS, seeds=2, conversational=False)
    solutions = [t.solution for t in TASK_MODELS]
    tokenizer = build_tokenizer([*texts_ds["prompt"], *solutions])
    result: dict[str, Any] = {"vocab": len(tokenizer), "torch": torch.__version__}
    save_plain_model(tokenizer, out / "tiny-model")
    result["tiny_model"] = str(out / "tiny-model")

    # 1. single-turn: the component reward functions, plus a spy on the total
    components = reward_functions(components=True)
    spy = Spy("total", components[0].scorer, prefix="spy_")
    trainer = GRPOTrainer(
        model=build_model(tokenizer),
        reward_funcs=[*components, spy],
        args=config(out, "single", reward_weights=[1.0] * len(COMPONENTS) + [0.0]),
        train_dataset=texts_ds,
        processing_class=tokenizer,
    )
    trainer.train()
    result["single"] = {"metrics": metrics(trainer), "calls": Spy.calls}

    # 2. multi-turn: the tool environment owns the reward
    rewards: list[float] = []
    base = environment_factory()

    class Env(base):  # type: ignore[misc, valid-type]
        def get_reward(self) -> float:
            value = super().get_reward()
            rewards.append(value)
            return value

    chat_ds = make_dataset(task_ids=TASKS, seeds=2, tools=True)
    trainer = GRPOTrainer(
        model=build_model(tokenizer, tools=True),
        args=config(out, "tools", max_tool_calling_iterations=2),
        train_dataset=chat_ds,
        processing_class=tokenizer,
        environment_factory=Env,
    )
    result["tools_exposed"] = sorted(t.__name__ for t in trainer.tools)
    trainer.train()
    result["tools"] = {"metrics": metrics(trainer), "rewards": rewards}
    result["seconds"] = round(time.perf_counter() - started, 1)
    (out / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
