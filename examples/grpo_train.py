"""Train a model to debug SQL with TRL's GRPO on sqldebug's tasks.

    pip install 'sqldebug[trl]'      # trl, transformers, datasets (and a torch for your GPU)

    # single-turn: the model answers once; reward functions grade its SQL in this process
    python examples/grpo_train.py Qwen/Qwen2.5-1.5B-Instruct

    # multi-turn: the model calls submit_sql / probe_sql / inspect_sample; the episode's return is
    # the reward. Tool calling needs a chat template TRL can parse (Qwen2.5/Qwen3, Llama 3.1+, ...)
    python examples/grpo_train.py Qwen/Qwen3-1.7B --tools

    # the same against a server (one per node, many trainers can share it)
    sqldebug serve --port 8000 &
    python examples/grpo_train.py Qwen/Qwen3-1.7B --tools --server http://127.0.0.1:8000

Rows are the training split's tasks x ``--seeds`` seeds (each seed grades against other hidden
instances); ``--generated shop`` adds tasks made by the generator for each seed. Logged per step:
``rewards/<name>/mean`` for each reward function (``--components``: one per reward component),
``sqldebug/solved`` and ``sqldebug/no_sql`` (single-turn), ``tools/call_frequency`` (multi-turn).
"""

from __future__ import annotations

import argparse
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="GRPO on sqldebug with TRL.")
    parser.add_argument("model", help="a model id on the Hub, or a local directory")
    parser.add_argument("--tools", action="store_true", help="multi-turn, with tools")
    parser.add_argument("--server", help="a `sqldebug serve` URL for the episodes (with --tools)")
    parser.add_argument("--components", action="store_true", help="one reward per component")
    parser.add_argument("--split", default="train", help="task split (default: train)")
    parser.add_argument("--tasks", help="a task folder (default: the bundled tasks)")
    parser.add_argument(
        "--generated",
        action="append",
        default=[],
        metavar="DATASET",
        help="also train on generated tasks of this dataset (repeatable)",
    )
    parser.add_argument("--seeds", type=int, default=8, help="seeds per task (default: 8)")
    parser.add_argument("--output-dir", default="runs/grpo-sqldebug")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs if > 0")
    parser.add_argument("--batch-size", type=int, default=8, help="per device")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-completion-length", type=int, default=512)
    parser.add_argument("--max-tool-calls", type=int, default=6, help="per rollout, with --tools")
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--beta", type=float, default=0.0, help="KL coefficient")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--use-vllm", action="store_true", help="generate with vLLM (colocated)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--report-to", default="none", help="none, wandb, tensorboard, ...")
    parser.add_argument("--logging-steps", type=int, default=1)
    parser.add_argument("--save-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", action="store_true", help="train on the CPU (for testing)")
    args = parser.parse_args(argv)
    if args.server and not args.tools:
        parser.error("--server plays episodes through tools: add --tools")
    return args


def build_dataset(args: argparse.Namespace) -> Any:
    from datasets import Dataset

    from sqldebug.integrations.trl import dataset_rows

    common = {"seeds": args.seeds, "tools": args.tools, "tasks": args.tasks}
    rows = dataset_rows(split=args.split, **common)
    for dataset in args.generated:
        rows += dataset_rows(task_ids=[f"generated:{dataset}"], **common)
    return Dataset.from_list(rows)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    import torch
    from trl import GRPOConfig, GRPOTrainer

    from sqldebug.integrations.trl import environment_factory, reward_functions

    bf16 = not args.cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    config = GRPOConfig(
        output_dir=args.output_dir,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        max_tool_calling_iterations=args.max_tool_calls if args.tools else None,
        learning_rate=args.learning_rate,
        beta=args.beta,
        temperature=args.temperature,
        use_vllm=args.use_vllm,
        vllm_mode="colocate",
        gradient_checkpointing=args.gradient_checkpointing,
        bf16=bf16,
        model_init_kwargs={"dtype": "bfloat16" if bf16 else "float32"},
        use_cpu=args.cpu,
        report_to=args.report_to,
        logging_steps=args.logging_steps,
        save_steps=args.save_steps,
        seed=args.seed,
        log_completions=True,
    )
    if args.tools:
        # the environment owns the reward (get_reward: the episode's return)
        extra: dict[str, Any] = {
            "environment_factory": environment_factory(args.server)
            if args.server
            else environment_factory(tasks=args.tasks)
        }
    else:
        extra = {"reward_funcs": reward_functions(components=args.components, tasks=args.tasks)}
    trainer = GRPOTrainer(model=args.model, args=config, train_dataset=build_dataset(args), **extra)
    trainer.train()
    trainer.save_model(args.output_dir)


if __name__ == "__main__":
    main()
