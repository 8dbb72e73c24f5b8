"""DeiT-Tiny/Base (Touvron et al. 2021) as timm's ``VisionTransformer``: patch 16, 224x224,
class token, learned position embedding, pre-norm blocks, GELU MLP of ratio 4.

Parameter names match timm (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
``blocks.N.attn.qkv``, ...) so timm state dicts load unchanged. Attention calls
``F.scaled_dot_product_attention`` exactly as timm's fused path does; on CPU that is the
``_scaled_dot_product_flash_attention_for_cpu`` kernel, which ``FlopCounterMode`` counts as 0 MACs
and sckit counts (see :mod:`sckit.macs`). Counts: deit_tiny 5,717,416; deit_base 86,567,656.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from sckit.zoo._registry import register_model

__all__ = ["VisionTransformer", "deit_tiny", "deit_base"]


class PatchEmbed(nn.Module):
    """Image to patch tokens: a stride-``patch`` conv, flattened to ``(N, tokens, dim)``."""

    def __init__(
        self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768
    ) -> None:
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """timm ``Attention``: fused qkv projection, SDPA, output projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = skip_init(nn.Linear, dim, dim * 3, bias=True)
        self.proj = skip_init(nn.Linear, dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = skip_init(nn.Linear, dim, hidden)
        self.act = nn.GELU()
        self.fc2 = skip_init(nn.Linear, hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm ``Block`` without layer scale / drop path)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """timm ``VisionTransformer`` with class-token pooling (the DeiT configuration)."""

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = skip_init(nn.Linear, embed_dim, num_classes)
        # timm init_weights(mode=''): trunc-normal(0.02) position embedding and linears (built
        # with skip_init, since their default init would be overwritten),
        # N(0, 1e-6) class token, zero biases; convs and LayerNorms keep PyTorch defaults
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


@register_model()
def deit_tiny(**kwargs) -> VisionTransformer:
    """DeiT-Tiny/16 at 224: 5,717,416 parameters."""
    return VisionTransformer(embed_dim=192, depth=12, num_heads=3, **kwargs)


@register_model()
def deit_base(**kwargs) -> VisionTransformer:
    """DeiT-Base/16 at 224: 86,567,656 parameters."""
    return VisionTransformer(embed_dim=768, depth=12, num_heads=12, **kwargs)
