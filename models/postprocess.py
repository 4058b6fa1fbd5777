"""From one batch's network outputs to `Prediction` records: the work after the forward pass.

Shared by the engine and the benchmark's baselines, so every row of `bench inference` does
the same work per text: constrained BIO decoding, entity spans, ticker linking, and the
target head on every linked ticker's spans (plus any span a caller asked about), all spans of
the batch in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.decode import decode_entities
from models.linking import TickerLinker
from models.records import SENTIMENT_LABELS, Prediction, TargetSentiment
from models.runners import BatchOutput
from models.shapes import Encoded
from models.store import LoadedModel
from models.tagging import constrained_tags
from models.targets import Span, as_target, target_probabilities, token_mask


@dataclass(frozen=True)
class Request:
    text: str
    enc: Encoded
    hints: tuple[str, ...] = ()
    targets: tuple[Span, ...] = ()


def postprocess(
    loaded: LoadedModel,
    requests: Sequence[Request],
    out: BatchOutput,
    attention_mask: np.ndarray,
    linker: TickerLinker | None,
    version: str,
) -> list[Prediction]:
    tag_ids = tag_scores = None
    if out.tag_logprobs is not None:
        lengths = np.array([max(len(r.enc) - 2, 0) for r in requests])  # without [CLS] [SEP]
        tag_ids, tag_scores = constrained_tags(out.tag_logprobs, lengths)
    results = []
    for row, req in enumerate(requests):
        p = out.probabilities[row]
        best = int(np.argmax(p))
        entities: tuple = ()
        if tag_ids is not None and tag_scores is not None:
            n = len(req.enc)
            entities = decode_entities(
                req.text,
                tag_ids[row, :n].tolist(),
                tag_scores[row, :n].tolist(),
                req.enc.offsets,
                req.enc.words,
            )
        results.append(
            Prediction(
                sentiment=SENTIMENT_LABELS[best],
                probabilities={label: float(p[i]) for i, label in enumerate(SENTIMENT_LABELS)},
                confidence=float(p[best]),
                entities=entities,
                tickers=linker.link(req.text, entities, req.hints) if linker else (),
                model_version=version,
            )
        )
    return with_targets(loaded, requests, results, out, attention_mask)


def with_targets(
    loaded: LoadedModel,
    requests: Sequence[Request],
    results: list[Prediction],
    out: BatchOutput,
    attention_mask: np.ndarray,
) -> list[Prediction]:
    """Every linked ticker, every entity span and every requested span gets its own
    sentiment: the target head on its spans, or the document's when the model has no target
    head or there is no span."""
    head = getattr(loaded.network, "target_head", None)
    rows: list[int] = []
    masks: list[np.ndarray] = []
    asks: list[tuple[int, str, int]] = []  # (row, "ticker" | "entity" | "target", index)
    width = attention_mask.shape[1]
    for row, (req, result) in enumerate(zip(requests, results, strict=True)):
        wanted = [("ticker", t, link.spans) for t, link in enumerate(result.tickers)]
        wanted += [("entity", e, ((ent.start, ent.end),)) for e, ent in enumerate(result.entities)]
        wanted += [("target", k, (span,)) for k, span in enumerate(req.targets)]
        for what, index, spans in wanted:
            mask = token_mask(req.enc, spans, width) if spans else None
            if mask is not None and mask.any():
                rows.append(row)
                masks.append(mask)
                asks.append((row, what, index))
    found: dict[tuple[int, str, int], TargetSentiment] = {}
    if head is not None and out.states is not None and out.pooled is not None and rows:
        probs = target_probabilities(head, out.states, out.pooled, attention_mask, rows, masks)
        found = {ask: as_target(p) for ask, p in zip(asks, probs, strict=True)}
    final = []
    for row, (req, result) in enumerate(zip(requests, results, strict=True)):
        document = TargetSentiment(
            result.sentiment, result.probabilities, result.confidence, "document"
        )
        tickers = tuple(
            replace(link, sentiment=found.get((row, "ticker", t), document))
            for t, link in enumerate(result.tickers)
        )
        entities = tuple(
            replace(ent, sentiment=found.get((row, "entity", e), document))
            for e, ent in enumerate(result.entities)
        )
        targets = tuple(found.get((row, "target", k), document) for k in range(len(req.targets)))
        final.append(replace(result, tickers=tickers, entities=entities, targets=targets))
    return final
