"""What a person reviewing a run sees, as typed values read from its run directory (no Ray).

The review app's JSON API (serve/review_api.py) and the verdicts (serve/verdicts.py) answer from
the views named here, one module per view: runs.py (the runs list, a run's page), rounds.py (a
round's row and page), proposals.py (a proposal's page, with pairs.py's A/B table), traces.py (a
trace) and pending.py (what waits for a verdict). They reuse the report's tolerant loader
(cluster/report), so a run that is still going, or stopped half-way, reads as far as it got; the
files it does not read are read in files.py. Ids are checked by serve/run_paths.py before anything
is read.
"""

from serve.run_view.pending import awaiting
from serve.run_view.proposals import proposal_detail
from serve.run_view.rounds import round_detail
from serve.run_view.runs import run_detail, summary
from serve.run_view.traces import trace_view

__all__ = ["awaiting", "proposal_detail", "round_detail", "run_detail", "summary", "trace_view"]
