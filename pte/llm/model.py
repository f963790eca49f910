"""Causal LM loading: the bundled SmolLM2 (converted once from its GGUF), or any HF path.

``MODEL = "smollm2"`` (the default everywhere) means the bundled SmolLM2-135M-Instruct:
its GGUF is dequantised once into a plain HF folder under .cache/models/ (~45 s) and
loaded from there afterwards (~4 s). Any other value is a HF folder or hub name.
A local folder (the bundled model included) is loaded with ``local_files_only=True``, so
nothing waits on a network; a hub name is left to the hub (and the user's HF_HUB_OFFLINE).
CUDA + bf16 when a GPU is present, CPU + fp32 otherwise; LoRA through peft; 4-bit
through bitsandbytes when asked and available.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from pte.paths import CACHE

BUNDLED = "smollm2"
BUNDLED_NAME = "SmolLM2-135M-Instruct"
# The release's LoRA settings (r=8, alpha=16, dropout 0.1, attention projections).
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.1
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
STAGE_FILE = "pte_stage.json"   # written beside an adapter: what trained it, from what


def bundled_dir() -> Path:
    return CACHE / "models" / BUNDLED_NAME


def convert_gguf(gguf: str | Path, dest: str | Path) -> Path:
    """Dequantise a GGUF into a plain HF folder (model + tokenizer), atomically.

    transformers loads GGUF checkpoints but refuses to ``save_pretrained`` them (the
    config keeps a GGUF quantization entry), so the weights are copied into a model
    built from a clean config, then saved.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf, dest = Path(gguf), Path(dest)
    t0 = time.perf_counter()
    print(f"converting {gguf.name} -> {dest} (once; ~45 s on 2 cores)", flush=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    src = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                               local_files_only=True)
    config = src.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "pte_source.json").write_text(json.dumps({"gguf": str(gguf), "size": gguf.stat().st_size}) + "\n")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)  # a folder appears whole or not at all
    print(f"converted in {time.perf_counter() - t0:.0f} s", flush=True)
    return dest


def model_path(name: str = BUNDLED) -> str:
    """A loadable HF path: the bundled model's converted folder (made on first use) or ``name``."""
    if name in ("", BUNDLED, "default", BUNDLED_NAME):
        dest = bundled_dir()
        if not (dest / "config.json").exists():
            from pte.data.assets import smollm2_gguf
            convert_gguf(smollm2_gguf(), dest)
        return str(dest)
    return name


def local_kwargs(path: str | Path) -> dict[str, Any]:
    """from_pretrained keywords for ``path``: ``local_files_only=True`` for a folder on disk
    (nothing to fetch, so nothing may wait on a network); none for a hub name."""
    return {"local_files_only": True} if Path(path).exists() else {}


def pick_device(name: str = "auto") -> str:
    """auto: this process's GPU (LOCAL_RANK under accelerate launch/torchrun) if any, else the CPU."""
    import os
    import torch
    if name in ("", "auto"):
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    return name


def cpu_has_bf16() -> bool:
    """Native bf16 matmuls (AVX512-BF16 or AMX); elsewhere bf16 on a CPU is emulated and slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(device: str, inference: bool = False):
    """bf16 on GPUs that have it (fp16 otherwise). On CPU fp32, except for generation on CPUs
    with native bf16, where it halves the time (bench/bench_llm.py: 2 cores, batch 64)."""
    import torch
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if inference and cpu_has_bf16() else torch.float32


def load_tokenizer(name: str = BUNDLED, padding_side: str = "left"):
    """The tokenizer with a pad token; left padding for batched generation by default."""
    from transformers import AutoTokenizer
    path = model_path(name)
    tok = AutoTokenizer.from_pretrained(path, **local_kwargs(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{name}: the tokenizer has no chat template; use an instruction-tuned (chat) model")
    return tok


def quantization_config(load_in_4bit: bool):
    """A 4-bit NF4 config, only where a GPU and bitsandbytes exist (the paper's 4-bit LoRA)."""
    if not load_in_4bit:
        return None
    import importlib.util
    import torch
    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("--load_in_4bit needs a CUDA GPU and 'pip install bitsandbytes'; "
                           "run without it on CPU")
    from transformers import BitsAndBytesConfig
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=pick_dtype("cuda"))


def load_model(name: str = BUNDLED, *, adapter: str | Path | None = None, device: str = "auto",
               trainable: bool = False, load_in_4bit: bool = False, merge: bool | None = None,
               dtype: str = "auto"):
    """The causal LM on ``device`` (auto: CUDA if present), optionally with a LoRA adapter.

    ``trainable`` keeps the adapter's weights trainable (continuing a stage from the
    previous one); otherwise the adapter is merged into the weights for fast inference
    (unless ``merge=False`` or the base is 4-bit). ``dtype``: auto (see pick_dtype) or a
    torch dtype name.
    """
    import torch
    from transformers import AutoModelForCausalLM
    device = pick_device(device)
    kw: dict[str, Any] = {"dtype": pick_dtype(device, inference=not trainable) if dtype in ("", "auto")
                          else getattr(torch, dtype)}
    q = quantization_config(load_in_4bit)
    if q is not None:
        kw.update(quantization_config=q, device_map={"": device})
    path = model_path(name)
    model = AutoModelForCausalLM.from_pretrained(path, **kw, **local_kwargs(path))
    if q is not None and trainable:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if q is None:
        model.to(device)
    if adapter:
        model = attach_adapter(model, adapter, trainable=trainable)
        if not trainable and (merge if merge is not None else q is None):
            model = model.merge_and_unload()
    if not trainable:
        model.eval()
    return model


def attach_adapter(model, adapter: str | Path, trainable: bool = False):
    from peft import PeftModel
    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"{adapter}: no LoRA adapter here (adapter_config.json missing); "
                                f"run the stage that writes it first")
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)


def lora_config(r: int = LORA_R, alpha: int = LORA_ALPHA, dropout: float = LORA_DROPOUT,
                targets: tuple[str, ...] | list[str] = LORA_TARGETS):
    from peft import LoraConfig
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                      bias="none", task_type="CAUSAL_LM")


def trainable_model(name: str = BUNDLED, init_adapter: str | Path | None = None, *, load_in_4bit: bool = False,
                    r: int = LORA_R, alpha: int = LORA_ALPHA, dropout: float = LORA_DROPOUT):
    """A PeftModel ready to train: continuing ``init_adapter`` if given, else a fresh LoRA.

    Loaded on CPU (or 4-bit on the GPU); the trainer (accelerate) places it, so the same
    script runs under ``python`` and ``accelerate launch``.
    """
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM
    q = quantization_config(load_in_4bit)
    kw: dict[str, Any] = {"dtype": pick_dtype(pick_device())}
    if q is not None:
        kw.update(quantization_config=q, device_map={"": pick_device()})
    path = model_path(name)
    model = AutoModelForCausalLM.from_pretrained(path, **kw, **local_kwargs(path))
    if q is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if init_adapter:
        return attach_adapter(model, init_adapter, trainable=True)
    return get_peft_model(model, lora_config(r, alpha, dropout))


def precision_kwargs(gradient_checkpointing: bool = True) -> dict[str, Any]:
    """TrainingArguments fields for this machine.

    trl's configs default to bf16 and gradient checkpointing even on CPU, where both make
    training 3-4x slower; on CPU turn both off. On GPUs use bf16 (fp16 where unsupported).
    """
    import torch
    from transformers import TrainingArguments
    # transformers >= 5.2x renamed gradient_checkpointing (now a deprecated alias)
    ckpt = ("activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
            else "gradient_checkpointing")
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16, ckpt: gradient_checkpointing}
    return {"bf16": False, "fp16": False, ckpt: False, "use_cpu": True, "dataloader_pin_memory": False}


def report_to(wandb: bool) -> str:
    return "wandb" if wandb else "none"


def write_stage(adapter_dir: str | Path, **info) -> None:
    """Record beside an adapter what made it (base model, parent adapter, data, prompts...)."""
    import os
    from pte.io import write_json
    if int(os.environ.get("RANK", "0")) == 0:  # one writer under accelerate launch
        write_json(Path(adapter_dir) / STAGE_FILE, info)


def read_stage(adapter_dir: str | Path) -> dict:
    p = Path(adapter_dir) / STAGE_FILE
    return json.loads(p.read_text()) if p.exists() else {}
