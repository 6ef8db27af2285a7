"""Building blocks of the chapter modules' ``make_inputs``: random gate parameters, and cases that cycle."""

import numpy as np


def gate_params(rng, gates, D, H, bias_scale=1.0):
    """Random ``W_g`` (H, H + D) and ``b_g`` (H,) for every gate ``g`` in ``gates``, in that order.

    Every gate gets a draw of its own and a nonzero bias, so a gate that takes another's weights, or a
    missing bias, changes the numbers. Weights are N(0, 1 / (H + D)); biases N(0, bias_scale**2).
    """
    params = {}
    for g in gates:
        params[f"W_{g}"] = rng.standard_normal((H, H + D)) / np.sqrt(H + D)
        params[f"b_{g}"] = bias_scale * rng.standard_normal(H)
    return params


class CaseCycle:
    """Hands out ``cases`` in order, starting again for every new Generator.

    Some mistakes only show in one kind of input, so a check run (visible or
    hidden, each with a Generator of its own) meets every case, always in the
    same order, with fresh random numbers inside.
    """

    def __init__(self, cases):
        self.cases, self.rng, self.count = tuple(cases), None, 0

    def next(self, rng):
        if rng is not self.rng:  # a new check run
            self.rng, self.count = rng, 0
        case = self.cases[self.count % len(self.cases)]
        self.count += 1
        return case
