"""Runnable examples (each is also tested: tests/test_watch_examples.py)."""
