"""Learned fusion: a logistic regression on the streams' validation scores (stacking), applied to test.

The weighted sum of :mod:`fusion.combine` has one weight per stream; stacking learns one per stream and
class pair. It is fitted on validation scores (a part of the training split held out from training)
and their labels only; :meth:`Stacking.scores` sees test scores and never test labels. Features are each
stream's log-softmax, so that a stream's logit scale and per-sample offset do not matter, concatenated
in stream order: (N, streams x C).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fusion.combine import log_softmax
from fusion.errors import FusionError

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression


def stacking_features(streams: Mapping[str, np.ndarray], order: Sequence[str]) -> np.ndarray:
    """(N, streams x C): each stream's log-softmax, in ``order``."""
    return np.concatenate([log_softmax(streams[name]) for name in order], axis=1)


@dataclass
class Stacking:
    """A fitted stacking model over the streams ``order`` with ``num_classes`` score columns."""

    order: list[str]
    num_classes: int
    model: LogisticRegression

    def scores(self, streams: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, C) class probabilities for test scores; classes absent from validation get 0."""
        missing = [n for n in self.order if n not in streams]
        if missing:
            raise FusionError(f"stacking was fitted on {self.order}; the test scores lack {missing}")
        probabilities = self.model.predict_proba(stacking_features(streams, self.order))
        full = np.zeros((len(probabilities), self.num_classes), dtype=np.float32)
        full[:, self.model.classes_] = probabilities
        return full


def fit_stacking(
    streams: Mapping[str, np.ndarray], labels: np.ndarray, *, regularization: float = 1.0, seed: int = 0
) -> Stacking:
    """Fit the logistic regression on validation scores ``{stream: (N, C)}`` and their (N,) labels."""
    from sklearn.linear_model import LogisticRegression  # here: scikit-learn loads only when stacking

    order = list(streams)
    if not order:
        raise FusionError("stacking needs at least one validation stream")
    present = np.unique(labels)
    if len(present) < 2:
        raise FusionError(f"stacking needs validation samples of at least 2 classes, found {len(present)}")
    model = LogisticRegression(C=regularization, max_iter=2000, random_state=seed)
    model.fit(stacking_features(streams, order), labels)
    return Stacking(order, next(iter(streams.values())).shape[1], model)
