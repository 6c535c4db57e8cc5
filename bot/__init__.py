"""EUCORA: a GitOps pull-request bot for end-user-computing change management."""

__version__ = "0.1.0"
