"""A tied weight's FPr counts every use (an embedding tied to the LM head is read once per token
by the head), and that drives the RAS kind ``compress`` gives it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import sckit
from tests.fixtures import TiedLM


class BigTiedLM(nn.Module):
    """Embedding 64 x 32 tied to the output projection: large enough for RAS to pay."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(64, 32)
        self.head = nn.Linear(32, 64, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.embed(tokens)))


def test_tied_rows_share_the_fpr_of_all_uses():
    tokens = torch.tensor([[1, 2, 3, 4]])
    df = sckit.inspect(TiedLM(), tokens, encode=False).set_index("layer")
    head_macs = 4 * 6 * 10  # tokens x d x vocab, all on the tied weight
    assert df.macs["embed"] == 0 and df.macs["head"] == head_macs  # MACs stay where they run
    assert df.fpr["embed"] == pytest.approx(2 * head_macs / 60)  # all uses / its 60 elements
    assert df.fpr["head"] == pytest.approx(2 * head_macs / (60 + 10))


@pytest.mark.parametrize("n_tokens,kind", [(30, "block"), (4, "element")])
def test_tied_weight_gets_the_kind_its_uses_warrant(n_tokens, kind):
    torch.manual_seed(0)
    model = BigTiedLM().eval()
    tokens = torch.arange(n_tokens).reshape(1, n_tokens) % 64
    df = sckit.inspect(model, tokens, encode=False).set_index("layer")
    assert df.fpr["embed"] == pytest.approx(2 * n_tokens) and df.ras["embed"] == kind
    sm = sckit.compress(model, tokens)
    assert sm.ras["embed.weight"].kind == kind
    assert torch.equal(sm(tokens).view(torch.int32), model(tokens).view(torch.int32))


def test_gpt2_tied_head_drives_the_embedding_choice():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64, n_positions=32,
                                  bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    x = {"input_ids": torch.randint(0, 64, (1, 20)), "use_cache": False}
    df = sckit.inspect(model, x, encode=False).set_index("layer")
    assert df.macs["transformer.wte"] == 0 and df.macs["lm_head"] == 20 * 16 * 64
    assert df.fpr["transformer.wte"] == pytest.approx(2 * 20) == df.fpr["lm_head"]
    assert df.ras["transformer.wte"] == "block" and df.shared["lm_head"] == "transformer.wte.weight"
    sm = sckit.compress(model, x)
    assert sm.ras["transformer.wte.weight"].kind == "block"
    ref = model(**x).logits
    assert torch.equal(sm(**x).logits.view(torch.int32), ref.view(torch.int32))
