"""Optional vLLM decoder for millions of profiles on GPUs (``--backend vllm``).

The LoRA adapter is served directly (no merge). HF generate stays the default and the
only backend tests need; vLLM is imported only when asked for. Differences: vLLM has no
no-repeat-n-gram constraint (its repetition penalty is used instead), and its sampling
streams differ from torch's, so profiles are not token-identical to the HF backend's
(the signature includes the backend, so the two never mix in one file).
"""
from __future__ import annotations

from pathlib import Path

from pte.llm.generate import Backend, GenSettings, Job


def vllm_backend(model: str, adapter: str | Path | None = None, gpu_memory_utilization: float = 0.85,
                 max_lora_rank: int = 64, tensor_parallel_size: int = 1) -> Backend:
    try:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as e:
        raise SystemExit("error: --backend vllm needs 'pip install vllm' on a CUDA machine; "
                         "the default --backend hf needs nothing more") from e
    llm = LLM(model=str(model), enable_lora=adapter is not None, max_lora_rank=max_lora_rank,
              gpu_memory_utilization=gpu_memory_utilization, tensor_parallel_size=tensor_parallel_size)
    lora = LoRARequest("profile", 1, str(adapter)) if adapter else None

    def run(jobs: list[Job], s: GenSettings, sample: bool) -> list[tuple[str, int]]:
        params = SamplingParams(max_tokens=s.max_new_tokens, temperature=s.temperature if sample else 0.0,
                                top_p=s.top_p if sample else 1.0, seed=s.seed,
                                repetition_penalty=max(s.repetition_penalty, 1.1 if s.no_repeat_ngram else 1.0),
                                stop=["\n"] if s.stop_at_newline else None)
        outs = llm.generate([j.prompt for j in jobs], params, lora_request=lora, use_tqdm=False)
        return [(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]
    return run
