"""Device check of the Profile stage's GPU paths, with tiny models built here (no downloads).

    python bench/gpu_check_llm.py          # on a CUDA machine (also runs on CPU, as a smoke test)

Checks: loading picks CUDA + bf16; the batched decoder runs on the GPU and agrees with
one-at-a-time decoding; SFT (bf16, LoRA) lowers the loss; GRPO (trl) runs with the
recommendation reward computed by a sentence encoder on the GPU. Prints one line each.
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pte.llm.data import Example
from pte.llm.generate import GenSettings, generate_batch, stop_token_ids
from pte.llm.model import load_model, load_tokenizer, pick_device, pick_dtype, precision_kwargs, trainable_model
from pte.llm.rewards import RecReward, format_reward
from pte.llm.train import setup, sft

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
WORDS = ("alien horror space comedy drama romance family kids war crime thriller musical western noir "
         "documentary animation adventure fantasy mystery user identity interests item summary suited for "
         "enjoys likes young old male female student engineer writer doctor film films").split()


def tiny_llama(root: Path) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    rng = np.random.default_rng(0)
    corpus = [" ".join(rng.choice(WORDS, 12)) + "; User interests: " + " ".join(rng.choice(WORDS, 5))
              for _ in range(300)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_start|>", "<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|im_end|>")
    fast.chat_template = CHATML
    path = root / "llama"
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, bos_token_id=fast.bos_token_id,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return str(path)


def tiny_encoder(root: Path) -> str:
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, models as tm, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    tok = Tokenizer(tm.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(WORDS * 3, trainers.WordPieceTrainer(vocab_size=200, special_tokens=[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    bert = root / "bert"
    fast.save_pretrained(bert)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(bert)
    word = models.Transformer(str(bert))
    st = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension(), "mean")])
    st.save(str(root / "encoder"))
    return str(root / "encoder")


def main() -> None:
    setup(0, 0)
    root = Path(tempfile.mkdtemp(prefix="pte-gpu-check-"))
    device = pick_device()
    print(f"device {device} ({torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}), "
          f"dtype {pick_dtype(device)}, trainer precision {precision_kwargs(False)}")
    llama, encoder = tiny_llama(root), tiny_encoder(root)
    tok, model = load_tokenizer(llama), load_model(llama)
    assert next(model.parameters()).device.type == torch.device(device).type
    prompts = [tok.apply_chat_template([{"role": "user", "content": " ".join(WORDS[k:k + n])}], tokenize=False,
                                       add_generation_prompt=True) + "User identity:"
               for k, n in ((0, 3), (5, 9), (2, 5), (10, 14))]
    s = GenSettings(max_new_tokens=16, no_repeat_ngram=0, stop_at_newline=False)
    t0 = time.perf_counter()
    batched = generate_batch(model, tok, prompts, s)
    single = [generate_batch(model, tok, [p], s)[0] for p in prompts]
    agree = np.mean([b[0] == a[0] for b, a in zip(batched, single)])
    print(f"generate: batched vs one-at-a-time greedy agree on {agree:.0%} of rows "
          f"({time.perf_counter() - t0:.1f} s; bf16 padding can flip near-ties)")
    sampled = generate_batch(model, tok, prompts, GenSettings(max_new_tokens=8, do_sample=True), sample=True)
    print(f"sampling on {device}: ok, {sum(n for _, n in sampled)} tokens")

    examples = [Example(f"e{k}", "kd", k, [{"role": "system", "content": "Profile."},
                                          {"role": "user", "content": " ".join(WORDS[k:k + 6])},
                                          {"role": "assistant", "content": f"User identity: {WORDS[k]}; "
                                                                          f"User interests: {WORDS[k + 1]} films."}],
                        []) for k in range(16)]
    peft_model = trainable_model(llama)
    res = sft(peft_model, load_tokenizer(llama, "right"), examples, root / "sft", steps=12, batch_size=4, grad_accum=1,
              lr=3e-3, max_length=256, seed=0, gradient_checkpointing=True)
    print(f"SFT on {device}: loss {res['start']:.3f} -> {res['end']:.3f} ({res['steps']} steps)")
    assert res["end"] < res["start"]

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from pte.encoder import encode
    items = [" ".join(WORDS[k:k + 3]) for k in range(20)]
    reward = RecReward(encode(items, encoder), encoder)
    rows = [{"prompt": p, "heldout": [k, k + 1], "candidates": [k, k + 1] + [j for j in range(20) if j not in (k, k + 1)][:8]}
            for k, p in enumerate(prompts)]
    policy = trainable_model(llama)
    policy.get_base_model().generation_config.eos_token_id = stop_token_ids(tok, policy.get_base_model(), newline=True)
    args = GRPOConfig(output_dir=str(root / "grpo"), max_steps=2, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=12, logging_steps=1, save_strategy="no", report_to="none",
                      remove_unused_columns=False, reward_weights=[1.0, 0.2], **precision_kwargs(False))
    trainer = GRPOTrainer(model=policy, reward_funcs=[reward, format_reward], args=args,
                          train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    print(f"GRPO on {device}: {len(rewards)} steps, rewards {[round(r, 3) for r in rewards]}")
    print("gpu_check_llm: all checks passed")


if __name__ == "__main__":
    main()
