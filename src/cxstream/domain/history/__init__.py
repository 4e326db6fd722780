"""Metric history: closed periods published once, kept for years, merged into weeks, months and years."""
