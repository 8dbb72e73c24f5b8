"""Exact mode on third-party architectures: HuggingFace transformers models built from small
configs (random init, no download), bit-identical to the source at batch 1 and 2."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import sckit
from sckit.engine import bit_equal

transformers = pytest.importorskip("transformers")


def _bert() -> tuple[Any, dict[str, torch.Tensor]]:
    cfg = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=128, vocab_size=100)
    return transformers.BertModel(cfg), {}


def _gpt2() -> tuple[Any, dict[str, torch.Tensor]]:
    # tied LM head (reads the embedding's weight); use_cache left on: the output holds a cache
    cfg = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=100, n_positions=64)
    return transformers.GPT2LMHeadModel(cfg), {}


def _llama() -> tuple[Any, dict[str, torch.Tensor]]:
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
    return transformers.LlamaForCausalLM(cfg), {}


def _t5() -> tuple[Any, dict[str, torch.Tensor]]:
    cfg = transformers.T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4, vocab_size=100)
    return transformers.T5ForConditionalGeneration(cfg), {"decoder_input_ids": None}


def _whisper() -> tuple[Any, dict[str, torch.Tensor]]:
    cfg = transformers.WhisperConfig(d_model=64, encoder_layers=2, decoder_layers=2,
                                     encoder_attention_heads=2, decoder_attention_heads=2,
                                     encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=16,
                                     max_source_positions=32, max_target_positions=32, vocab_size=100,
                                     pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                     decoder_start_token_id=1)
    return transformers.WhisperModel(cfg), {"whisper": None}


@pytest.mark.parametrize("build", [_bert, _gpt2, _llama, _t5, _whisper],
                         ids=["bert", "gpt2", "llama-gqa", "t5", "whisper"])
@pytest.mark.parametrize("batch", [1, 2])
def test_transformers_exact_mode_bit_identical(build: Any, batch: int, tmp_path: Any) -> None:
    torch.manual_seed(0)
    model, extra = build()
    model.eval()
    g = torch.Generator().manual_seed(1)
    if "whisper" in extra:
        x: dict[str, torch.Tensor] = {
            "input_features": torch.randn(batch, 16, 64, generator=g),
            "decoder_input_ids": torch.randint(0, 100, (batch, 5), generator=g)}
    else:
        x = {"input_ids": torch.randint(0, 100, (batch, 7), generator=g)}
        if "decoder_input_ids" in extra:
            x["decoder_input_ids"] = torch.randint(0, 100, (batch, 5), generator=g)
    sm = sckit.compress(model, x)  # verify=True raises on any differing output bit
    with torch.no_grad():
        assert bit_equal(sm(**x), model(**x))
    assert len(sm.ras) > 0
    dense = sm.to_dense().state_dict()
    assert all(bit_equal(dense[k], v) for k, v in model.state_dict().items())
    # through the container (format 3: derived lengths, packed arrays, default units) and back
    sckit.save(sm, tmp_path / "m.sck")
    assert (tmp_path / "m.sck").read_bytes()[8:12] == (3).to_bytes(4, "little")
    back = sckit.load(tmp_path / "m.sck", model=build()[0].eval())
    with torch.no_grad():
        assert bit_equal(back(**x), model(**x))


@pytest.mark.parametrize("build", [_gpt2, _llama], ids=["gpt2", "llama-gqa"])
@pytest.mark.parametrize("batch", [1, 2])
def test_magnitude_pruned_transformers_bit_identical(build: Any, batch: int, tmp_path: Any) -> None:
    """80% of each 2-d weight zeroed by a mask product (-0.0 where the weight was negative, as
    torch's pruning leaves it): the byte-grouped zero skip takes them, outputs stay exact."""
    torch.manual_seed(0)
    model, _ = build()
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(p.abs() > p.abs().flatten().kthvalue(int(0.8 * p.numel())).values)
    x = {"input_ids": torch.randint(0, 100, (batch, 7), generator=torch.Generator().manual_seed(1))}
    sm = sckit.compress(model, x)
    assert any(getattr(r, "zero_skip", False) for r in sm.ras.values())
    with torch.no_grad():
        assert bit_equal(sm(**x), model(**x))
    sckit.save(sm, tmp_path / "m.sck")
    fresh = build()[0].eval()
    back = sckit.load(tmp_path / "m.sck", model=fresh)
    with torch.no_grad():
        assert bit_equal(back(**x), model(**x))


@pytest.mark.parametrize("build", [_gpt2, _llama], ids=["gpt2", "llama-gqa"])
def test_float16_transformers_bit_identical(build: Any, tmp_path: Any) -> None:
    """Half-precision checkpoints: every float16 matrix takes a byte-grouped form
    (sckit.ras.bytegroup_f16), outputs stay exact at batch 1 and 2, through the container and
    through `sckit.pack` / `sckit.open(...).state_dict()`."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build()[0].half().eval()
    g = torch.Generator().manual_seed(1)
    sm = sckit.compress(model, {"input_ids": torch.randint(0, 100, (1, 7), generator=g)})
    # every 2-d weight (small vectors may stay in the wavelet matrix, where smaller)
    big = [r for r in sm.ras.values() if r.dtype == "float16" and r.n_weights >= 4096]
    assert big and all(getattr(r, "f16_form", None) in ("sign_plane", "high_byte") for r in big)
    for batch in (1, 2):
        x = {"input_ids": torch.randint(0, 100, (batch, 7), generator=g)}
        with torch.no_grad():
            assert bit_equal(sm(**x), model(**x))
    sckit.save(sm, tmp_path / "m.sck")
    back = sckit.load(tmp_path / "m.sck", model=build()[0].half().eval())
    with torch.no_grad():
        assert bit_equal(back(**x), model(**x))
    state = {k: v.contiguous() for k, v in model.state_dict().items()
             if k != "lm_head.weight" or not getattr(model.config, "tie_word_embeddings", False)}
    save_file(state, str(tmp_path / "w.safetensors"))
    sckit.pack(tmp_path / "w.safetensors", tmp_path / "w.sck", progress=False)
    with sckit.open(tmp_path / "w.sck") as f:
        got = f.state_dict()
    assert sorted(got) == sorted(state)  # (safetensors stores names sorted)
    assert all(bit_equal(got[k], v) for k, v in state.items())
