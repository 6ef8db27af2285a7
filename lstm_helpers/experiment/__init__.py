"""The experiments: tasks generated in code, training, and precomputed results.

* :mod:`.data` — the long-lag tasks of chapter 06 (the adding problem, the
  "I grew up in France ... I speak fluent French" task);
* :mod:`.training` — losses, optimisers and every recurrent cell behind one
  interface, with a read-out; chapter 03's clipping experiment;
* :mod:`.runner` — the training loop with early stopping, the grid of runs,
  and the shipped results in ``results/``;
* :mod:`.fast_lstm` — the fused LSTM that training uses.
"""
