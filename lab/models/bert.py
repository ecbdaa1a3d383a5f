"""A BERT encoder in plain torch.nn, parameter for parameter the one Hugging Face's BertModel builds.

Why by hand, when transformers does this: importing transformers' BertModel costs
1.5-4 s on a 2-core laptop (it pulls in sympy, scipy.optimize, torchao and the hub
client), which was most of the per-configuration overhead of a minilm sweep, and a
built-in model should not make every measuring process pay it. The encoder itself
is sixty lines; the module names below mirror transformers' so its checkpoints
(``model.safetensors``) load with ``load_state_dict(strict=True)``, and
tests/models/test_minilm.py checks the outputs against transformers' BertModel on
the same weights, where transformers is installed.

Inference only (no dropout). Shapes: input_ids and attention_mask (n, t) int64 ->
hidden states (n, t, hidden_size) in the model's dtype.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT config.json this encoder uses (the rest are ignored)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_json_file(cls, path: str | Path) -> "BertConfig":
        raw = json.loads(Path(path).read_text())
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


class BertEmbeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # One segment (token type 0): what a sentence encoder feeds.
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    """Multi-head attention: query, key and value projections, split into heads, scaled dot products."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.num_heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape

        def heads(proj):  # (n, t, hidden) -> (n, heads, t, head_dim); -1 so a pruned width still splits
            return proj(x).view(n, t, self.num_heads, -1).transpose(1, 2)

        q, k, v = heads(self.query), heads(self.key), heads(self.value)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=additive_mask)
        return context.transpose(1, 2).reshape(n, t, -1)


class BertSelfOutput(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(context) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, additive_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        if c.hidden_act != "gelu":
            raise ValueError(f"hidden_act={c.hidden_act!r} is not allowed: this encoder implements 'gelu'")
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # BERT's gelu is the exact (erf) one


class BertOutput(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(h) + residual)


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, additive_mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))


class BertModel(nn.Module):
    """BERT without its pooler: (input_ids, attention_mask) -> last hidden states (n, t, hidden)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        # Padding keys get the dtype's lowest value before the softmax (as transformers does), so a
        # padded position weighs nothing; (n, 1, 1, t) broadcasts over heads and queries.
        keep = attention_mask[:, None, None, :].to(x.dtype)
        additive_mask = (1.0 - keep) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, additive_mask)
        return x

