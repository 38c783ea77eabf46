"""The simulated meter's time-of-use engine is the depot's (:mod:`hhu_sync.model.tou`):
a meter and the billing that checks it apply one calendar."""

from hhu_sync.model.tou import TouTable

__all__ = ["TouTable"]
