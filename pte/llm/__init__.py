"""The Profile stage: model loading (bundled SmolLM2 by default), prompts, training data,
batched resumable generation, rewards and profile embeddings.

Modules: ``model`` (GGUF conversion, loading, LoRA, trainer precision), ``prompts`` (every
prompt and the profile shapes), ``data`` (neighbours, prompts and training examples from
training interactions only, with provenance), ``generate`` (batched, KV-cached, resumable
generation), ``teacher`` (teacher prompts and backends), ``rewards`` (GRPO rewards),
``train`` (trainer plumbing), ``profiles`` (paths; profile files -> embeddings with
explicit fallbacks), ``inference`` (what the inference scripts share), ``vllm_backend``
(optional). Scripts: llm/teacher.py, llm/lora/*.py, llm/lora/rlhf/rl_training.py.

Importing this package changes no environment variable. Local models (the bundled one
included) load with ``local_files_only=True`` (``model.local_kwargs``); the run-time
defaults of the LLM scripts (WANDB_MODE=offline, TOKENIZERS_PARALLELISM=false, unless the
user set them) are set by ``train.setup``, which every LLM script calls first.
"""
