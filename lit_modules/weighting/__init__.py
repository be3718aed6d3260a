"""Loss weighting strategies: one step's ``{"task/term": loss}`` → one scalar objective.

See `base.py` for the contract and the table of strategies; one strategy per file.
"""
from lit_modules.weighting.base import Weighting, make_weighting
from lit_modules.weighting.loss_ratio import LossRatioWeighting
from lit_modules.weighting.static import StaticWeighting
from lit_modules.weighting.uncertainty import UncertaintyWeighting

__all__ = ["Weighting", "make_weighting", "StaticWeighting", "UncertaintyWeighting", "LossRatioWeighting"]
