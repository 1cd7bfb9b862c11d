"""Adapters that let other frameworks use the Assistant as one of their own parts."""
