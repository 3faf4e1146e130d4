"""Ray Serve apps (OpenAI-compatible endpoint, review app)."""
