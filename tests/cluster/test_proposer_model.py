"""`proposer.model`: the proposals can come from another backend than the agent's, and the report says who
proposed. Here the agent is the in-process sim and the proposer is the sim behind a real HTTP endpoint,
reached through the `openai` backend: every proposer request crosses HTTP, no agent turn does."""

from __future__ import annotations

import json

import yaml

from actors.model.config import OpenAIModelConfig, SimModelConfig
from actors.model.roles import PROPOSER_ROLE
from cluster.config import ProposerConfig, RunConfig, load_config
from cluster.loop import open_run, run_loop_bare
from cluster.report import write_report
from tests.conftest import needs_bwrap, sim
from tests.doubles.faulty_endpoint import FaultyEndpoint


class Recording(FaultyEndpoint):
    """The endpoint double, counting the system prompts it was sent."""

    def __init__(self, model):
        super().__init__(model)
        self.roles: list[bool] = []
        complete = model.complete

        def spy(request):
            self.roles.append(PROPOSER_ROLE in request.messages[0].content)
            return complete(request)

        model.complete = spy


@needs_bwrap
def test_the_proposer_can_be_another_model_and_the_report_says_which(tmp_path, fixture_suite):
    from harnesses.tasks import load_suite
    from cluster.config import resolve_suite

    core = load_suite(resolve_suite("core"))
    endpoint = Recording(sim(None, core.tasks.values()))
    try:
        proposer = OpenAIModelConfig(base_url=endpoint.base_url, model="proposer-sim", api_key_env=None)
        cfg = RunConfig(limit=6, attempts=2, rounds=1, k=2, concurrency=4, progress=False,
                        model=SimModelConfig(profile="glm"), proposer=ProposerConfig(model=proposer))
        store = open_run(cfg, str(tmp_path))
        run_loop_bare(cfg, store)
    finally:
        endpoint.close()
    assert endpoint.roles and all(endpoint.roles)  # the proposer's requests, and nothing else, went over HTTP
    saved = load_config(tmp_path / "config.yaml", RunConfig)
    assert saved.proposer.model == proposer
    md, _ = write_report(tmp_path)
    assert "openai/proposer-sim" in md.read_text()
    assert json.loads((tmp_path / "final.json").read_text())["final"]["episodes"] > 0
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["proposer"]["model"]["kind"] == "openai"


def test_by_default_the_agent_proposes_as_in_the_paper():
    assert RunConfig().proposer.model is None
