"""Monitoring jobs: drift of the served inputs and predictions against the training data."""
