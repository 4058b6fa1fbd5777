"""A plain `...ForSequenceClassification` checkpoint served behind the network's outputs:
document sentiment only (no entity tags, no target head)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.errors import ModelFormatError
from models.network import TickerpulseOutput
from models.records import SENTIMENT_LABELS


def label_order(id2label: dict) -> list[int]:
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
    def __init__(self, classifier: Any) -> None:
        super().__init__()
        self.classifier: Any = classifier
        self.register_buffer(
            "order", torch.tensor(label_order(classifier.config.id2label)), persistent=False
        )

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor
    ) -> TickerpulseOutput:
        logits = self.classifier(input_ids=input_ids, attention_mask=attention_mask).logits
        return TickerpulseOutput(logits=logits.index_select(-1, self.order))
