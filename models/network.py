"""The tickerpulse network as a transformers model: one BERT encoder, three heads.

- document head: sentiment of the whole text (negative / neutral / positive), on the
  mean-pooled token states;
- entity head: BIO entity tags (ORG, PER, LOC) on every token;
- target head: the sentiment about one entity span: [span mean; the mean of the words around
  it (three tokens each side); a context vector the span attends to with its own learned
  query; the document state] -> 3 logits. Every entity of a
  text gets its own sentiment from the same forward pass: the encoder never runs per entity.

A learned case-shape embedding (see `models.shapes`) is added to the word embeddings: the
base checkpoint is uncased, and capitalisation is the strongest cue for names.

This file imports only torch and transformers: it is copied into every saved model directory
as `modeling_tickerpulse.py` and named in `config.json`'s `auto_map`, so
`transformers.AutoModel.from_pretrained(DIR, trust_remote_code=True)` loads and runs a model
without tickerpulse installed. `case_ids` default to zeros (no case information).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertConfig, BertModel, PreTrainedModel
from transformers.utils import ModelOutput


class TickerpulseConfig(BertConfig):
    """A BERT config plus the heads' labels: `id2label` (document and target heads, the same
    three sentiments), `entity_id2label` (BIO tags) and `target_id2label`."""

    model_type = "tickerpulse"

    def __init__(
        self,
        entity_id2label: dict | None = None,
        target_id2label: dict | None = None,
        n_shapes: int = 6,
        head_dropout: float = 0.1,
        **kwargs,  # noqa: ANN003
    ) -> None:
        super().__init__(**kwargs)
        self.entity_id2label = {int(k): v for k, v in (entity_id2label or {0: "O"}).items()}
        labels = target_id2label or dict(self.id2label or {})
        self.target_id2label = {int(k): v for k, v in labels.items()}
        self.n_shapes = n_shapes
        self.head_dropout = head_dropout


def encoder_config(config: TickerpulseConfig) -> BertConfig:
    """The plain BERT config of the encoder (what `encoder.save_pretrained` should write)."""
    own = {
        "model_type",
        "architectures",
        "auto_map",
        "entity_id2label",
        "target_id2label",
        "n_shapes",
        "head_dropout",
        "id2label",
        "label2id",
    }
    return BertConfig(**{k: v for k, v in config.to_dict().items() if k not in own})


@dataclass
class TickerpulseOutput(ModelOutput):
    logits: torch.Tensor | None = None  # [B, 3] document sentiment
    entity_logits: torch.Tensor | None = None  # [B, T, tags]
    last_hidden_state: torch.Tensor | None = None  # [B, T, H] (target head input)
    pooled: torch.Tensor | None = None  # [B, H] document state (target head input)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` [N, T, H] over the positions where `mask` [N, T] is non-zero."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class TargetHead(nn.Module):
    """Sentiment about one span: [span mean; its neighbours' mean; attended context; document
    state] -> logits."""

    window = 3  # tokens each side of the span that make its neighbourhood

    def __init__(self, hidden: int, labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Sequential(
            nn.Linear(4 * hidden, hidden), nn.GELU(), nn.Linear(hidden, labels)
        )

    def forward(
        self,
        states: torch.Tensor,  # [N, T, H]: the token states of the text each span is in
        attention_mask: torch.Tensor,  # [N, T]
        span_mask: torch.Tensor,  # [N, T]: 1 on the span's tokens
        pooled: torch.Tensor,  # [N, H]: the document state of that text
    ) -> torch.Tensor:
        span = masked_mean(states, span_mask)
        inside = span_mask.to(states.dtype)
        near = nn.functional.max_pool1d(
            inside.unsqueeze(1), 2 * self.window + 1, stride=1, padding=self.window
        ).squeeze(1)
        neighbours = masked_mean(states, (near - inside) * attention_mask.to(states.dtype))
        scores = torch.einsum("nh,nth->nt", self.query(span), states) / math.sqrt(span.shape[-1])
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        context = torch.einsum("nt,nth->nh", torch.softmax(scores, dim=-1), states)
        features = torch.cat([span, neighbours, context, pooled], dim=-1)
        return self.classifier(self.dropout(features))


class TickerpulseModel(PreTrainedModel):
    config_class = TickerpulseConfig
    base_model_prefix = "tickerpulse"

    def __init__(self, config: TickerpulseConfig) -> None:
        super().__init__(config)
        hidden = config.hidden_size
        self.encoder = BertModel(encoder_config(config), add_pooling_layer=False)
        self.case_embedding = nn.Embedding(config.n_shapes, hidden)
        self.dropout = nn.Dropout(config.head_dropout)
        self.sentiment_head = nn.Linear(hidden, len(config.id2label or {}))
        self.entity_head = nn.Linear(hidden, len(config.entity_id2label))
        self.target_head = TargetHead(hidden, len(config.target_id2label), config.head_dropout)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "case_embedding", None):
            nn.init.zeros_(module.weight)  # starts as the plain base model
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        case_ids: torch.Tensor | None = None,
        **_: object,  # token_type_ids and the like from a plain tokenizer call
    ) -> TickerpulseOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if case_ids is None:
            case_ids = torch.zeros_like(input_ids)
        words = self.encoder.get_input_embeddings()(input_ids)
        embeds = words + self.case_embedding(case_ids)
        states = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask)[0]
        pooled = masked_mean(states, attention_mask)
        return TickerpulseOutput(
            logits=self.sentiment_head(self.dropout(pooled)),
            entity_logits=self.entity_head(self.dropout(states)),
            last_hidden_state=states,
            pooled=pooled,
        )

    def target(
        self,
        states: torch.Tensor,
        pooled: torch.Tensor,
        attention_mask: torch.Tensor,
        rows: torch.Tensor,  # [N]: the batch row each span is in
        span_mask: torch.Tensor,  # [N, T]
    ) -> torch.Tensor:
        """Target logits [N, 3] for N spans of the batch's texts."""
        return self.target_head(states[rows], attention_mask[rows], span_mask, pooled[rows])
