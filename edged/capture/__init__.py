"""Camera sources and the supervisor that keeps them delivering."""
