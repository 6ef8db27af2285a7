"""One palette for every picture of the course.

``COLORS`` colours the parts of a diagram; ``MODEL_COLORS`` gives each
recurrent model the same colour in every plot and widget, and
``MODEL_LABELS`` its name in legends.
"""

COLORS = {
    "layer": "#f6c344",      # boxes: learned layers (a weight matrix and an activation)
    "pointwise": "#f4a6a6",  # circles: pointwise operations
    "input": "#9ecae1",      # x_t
    "output": "#a1d99b",     # h_t
    "module": "#dde6f2",     # the repeating module's background
    "highlight": "#d62728",  # the part a walkthrough step is about
    "line": "#333333",
    "muted": "#bbbbbb",
}

MODEL_COLORS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c", "peephole": "#9467bd", "cifg": "#8c564b",
                "rnn_mean": "#bcbd22", "rnn_attention": "#ff7f0e"}
MODEL_LABELS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU", "peephole": "peephole LSTM", "cifg": "CIFG LSTM",
                "rnn_mean": "tanh RNN + mean of its states", "rnn_attention": "tanh RNN + attention"}

#: Colour maps for text coloured character by character (chapter 07): a cell's activation from
#: -1 (blue) to +1 (red), and the probability a model gave a character from 0 (red) to 1 (green).
TEXT_CMAPS = {"activation": "coolwarm", "probability": "RdYlGn"}
