"""Filled in by the learning issue."""
