"""The harness: the thing self-harness improves. Data (spec, edits) and the agent loop that runs it."""
