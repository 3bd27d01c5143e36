"""Peer face pipelines (what users would otherwise build) and ``edged bench peers``, which measures
edged against them on the same inputs, in the same process, alternating per image."""
