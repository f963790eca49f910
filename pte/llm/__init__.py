"""The Profile stage: model loading (bundled SmolLM2 by default), prompts, training data,
batched resumable generation, rewards and profile embeddings.

Modules: ``model`` (GGUF conversion, loading, LoRA, trainer precision), ``prompts`` (every
prompt and the profile shapes), ``data`` (neighbours, prompts and training examples from
training interactions only, with provenance), ``generate`` (batched, KV-cached, resumable
generation), ``teacher`` (teacher prompts and backends), ``rewards`` (GRPO rewards),
``train`` (trainer plumbing), ``profiles`` (paths; profile files -> embeddings with
explicit fallbacks), ``inference`` (what the inference scripts share), ``vllm_backend``
(optional). Scripts: llm/teacher.py, llm/lora/*.py, llm/lora/rlhf/rl_training.py.
"""
import os

# Nothing in this stage may wait on a network: offline unless the user says otherwise.
for _k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
