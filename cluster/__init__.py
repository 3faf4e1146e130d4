"""self-harness: the Ray composition, configuration and command line."""
