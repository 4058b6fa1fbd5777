"""The network: one BERT encoder, two heads (sentence sentiment, BIO entity tags).

`TwoHeadModel` adds a learned case-shape embedding (see `models.shapes`) to the word
embeddings, runs the encoder once, mean-pools for the sentence head and keeps every token
for the entity head. `SentimentOnlyModel` wraps a plain sequence-classification checkpoint
behind the same forward signature (entity logits are then None).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.errors import ModelFormatError
from models.records import ENTITY_TAGS, SENTIMENT_LABELS
from models.shapes import N_SHAPES


class TwoHeadModel(nn.Module):
    def __init__(self, encoder: Any, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder: Any = encoder
        hidden = encoder.config.hidden_size
        self.case_embedding = nn.Embedding(N_SHAPES, hidden)
        nn.init.zeros_(self.case_embedding.weight)  # starts as the plain base model
        self.dropout = nn.Dropout(dropout)
        self.sentiment_head = nn.Linear(hidden, len(SENTIMENT_LABELS))
        self.entity_head = nn.Linear(hidden, len(ENTITY_TAGS))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        words = self.encoder.get_input_embeddings()(input_ids)
        embeds = words + self.case_embedding(case_ids)
        hidden = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.sentiment_head(self.dropout(pooled)), self.entity_head(self.dropout(hidden))


def _label_order(id2label: dict) -> list[int]:
    """Column index of negative/neutral/positive in a classifier's logits."""
    names = {str(v).lower(): int(k) for k, v in id2label.items()}
    try:
        return [names[label] for label in SENTIMENT_LABELS]
    except KeyError as exc:
        raise ModelFormatError(
            f"sequence-classification labels {sorted(names)} do not name "
            f"{'/'.join(SENTIMENT_LABELS)}"
        ) from exc


class SentimentOnlyModel(nn.Module):
    """A `...ForSequenceClassification` checkpoint: sentiment only, no entities."""

    def __init__(self, classifier: Any) -> None:
        super().__init__()
        self.classifier: Any = classifier
        self.register_buffer(
            "order", torch.tensor(_label_order(classifier.config.id2label)), persistent=False
        )

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        logits = self.classifier(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits.index_select(-1, self.order), None
