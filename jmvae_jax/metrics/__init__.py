"""Metrics that judge a trained model from outside it: digit classifiers, and
the coherence of what the model generates."""
