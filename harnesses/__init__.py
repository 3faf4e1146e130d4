"""The harness: the thing self-harness improves, and the ground floor of the project.

Data (spec, edits), the agent loop that runs it, and what that loop talks to: the task model
(tasks.py), the `Model` and `Sandbox` protocols (model.py, sandbox.py) and the words for what
happened (vocabulary.py). Nothing here imports the rest of the project (ARCHITECTURE.md).
"""
