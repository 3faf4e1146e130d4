"""Ray actors of self-harness; each is a plain class made remote at the composition root."""
