"""Enrolled people: encrypted gallery store, in-memory 1:N search index, enrollment and erasure.

The daemon uses :class:`edged.identity.gallery.Gallery` (``Gallery.from_config(cfg)``).
"""
