"""The passage policy and the passage state machine."""
