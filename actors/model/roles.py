"""The markers that open a system prompt for each job the model does besides acting.

A real model reads them as instructions; the simulated model dispatches on them.
"""

PROPOSER_ROLE = "# Role: harness proposer"
LABELLER_ROLE = "# Role: failure labeller"
