"""Data: readers for the supported formats, the built-in demo data, and bucketed batching."""
