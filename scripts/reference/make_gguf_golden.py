"""The GGUF golden: the same weights written by llama.cpp's own Python library (gguf-py), independently
of minilm's writer, as digests that test/gguf-golden.test.ts compares minilm's file with, key by key and
tensor by tensor.

    pip install gguf==0.19.0 safetensors tokenizers numpy
    npx minilm export test/golden/litgpt/checkpoint --format hf --output_dir /tmp/golden-hf
    python scripts/reference/make_gguf_golden.py /tmp/golden-hf test/golden/gguf/golden.json

It follows llama.cpp's convert_hf_to_gguf.py for a LlamaForCausalLM with a gpt2 (byte-level BPE)
tokenizer: the names, the Q/K row permutation for llama.cpp's RoPE, f32 norms, and gguf-py's own q8_0
quantisation. The tokenizer's pre-tokenizer name is set to "gpt-2" by hand (the converter's hash check
does not know minimind's tokenizer: the reason minilm writes GGUF itself).
"""

import hashlib
import json
import os
import sys
import tempfile

import gguf
import numpy as np
from safetensors.numpy import load_file


def permute(w, n_head):
    # convert_hf_to_gguf.py's LlamaModel.permute: rotate-half rows to interleaved pairs, per head.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write(hf_dir, path, ftype):
    config = json.load(open(os.path.join(hf_dir, "config.json")))
    tok = json.load(open(os.path.join(hf_dir, "tokenizer.json")))
    tok_config = json.load(open(os.path.join(hf_dir, "tokenizer_config.json")))
    weights = load_file(os.path.join(hf_dir, "model.safetensors"))

    w = gguf.GGUFWriter(path, "llama")
    w.add_name(config["minilm_name"])
    w.add_file_type(ftype)
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    w.add_key_length(config["head_dim"])
    w.add_value_length(config["head_dim"])
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_rope_dimension_count(config["head_dim"])
    w.add_rope_freq_base(config["rope_theta"])
    w.add_vocab_size(config["vocab_size"])

    # The tokenizer, as the converter's _set_vocab_gpt2 writes it.
    vocab_size = config["vocab_size"]
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    types = {i: gguf.TokenType.NORMAL for i in by_id}
    for added in tok["added_tokens"]:
        by_id[added["id"]] = added["content"]
        types[added["id"]] = gguf.TokenType.CONTROL if added["special"] else gguf.TokenType.USER_DEFINED
    tokens, token_types = [], []
    for i in range(vocab_size):
        tokens.append(by_id.get(i, f"[PAD{i}]"))
        token_types.append(types.get(i, gguf.TokenType.UNUSED))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_add_bos_token(bool(tok_config.get("add_bos_token", False)))
    w.add_add_eos_token(False)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_token_merges(merges)
    ids = {t: i for i, t in enumerate(tokens)}
    w.add_bos_token_id(ids[tok_config["bos_token"]])
    w.add_eos_token_id(ids[tok_config["eos_token"]])
    w.add_pad_token_id(ids[tok_config["pad_token"]])
    w.add_unk_token_id(ids[tok_config["unk_token"]])
    w.add_chat_template(tok_config["chat_template"])
    if ftype == gguf.LlamaFileType.MOSTLY_Q8_0:
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    names = {
        "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for hf_name, data in weights.items():
        data = data.astype(np.float32)
        if hf_name == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif hf_name == "model.norm.weight":
            name = "output_norm.weight"
        elif hf_name == "lm_head.weight":
            name = "output.weight"
        else:
            _, _, layer, *rest = hf_name.split(".")
            part = ".".join(rest[:-1])
            name = f"blk.{layer}.{names[part]}.weight"
            if part == "self_attn.q_proj":
                data = permute(data, config["num_attention_heads"])
            elif part == "self_attn.k_proj":
                data = permute(data, config["num_key_value_heads"])
        if data.ndim == 1 or ftype == gguf.LlamaFileType.ALL_F32:
            w.add_tensor(name, data)
        elif ftype == gguf.LlamaFileType.MOSTLY_F16:
            w.add_tensor(name, data.astype(np.float16))
        else:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def digest(path):
    """Every key's value (arrays as length and sha256 of their JSON) and every tensor's type, shape and bytes' sha256."""
    r = gguf.GGUFReader(path)
    keys = {}
    for field in r.fields.values():
        if field.name.startswith("GGUF."):
            continue
        value = field.contents()
        if isinstance(value, list):
            keys[field.name] = {"length": len(value), "sha256": hashlib.sha256(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()}
        else:
            keys[field.name] = value
    tensors = {
        t.name: {"type": int(t.tensor_type), "shape": [int(n) for n in t.shape], "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()}
        for t in r.tensors
    }
    return {"version": int(r.fields["GGUF.version"].contents()), "keys": keys, "tensors": tensors}


def main():
    hf_dir, out = sys.argv[1], sys.argv[2]
    golden = {"made_by": f"scripts/reference/make_gguf_golden.py, gguf-py {gguf.__name__} 0.19.0", "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, ftype in [("f32", gguf.LlamaFileType.ALL_F32), ("f16", gguf.LlamaFileType.MOSTLY_F16), ("q8_0", gguf.LlamaFileType.MOSTLY_Q8_0)]:
            path = os.path.join(tmp, f"{dtype}.gguf")
            write(hf_dir, path, ftype)
            golden["files"][dtype] = digest(path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
