"""The Dockerfile reader: which COPY/ADD lines are the task's files, and which only an image build gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from harnesses.dockerfile import logical_lines, plan_dockerfile, substitute
from harnesses.tasks import TaskError, parse_dockerfile_copies


def plan(tmp_path: Path, text: str, files: tuple[str, ...] = ()):
    env = tmp_path / "environment"
    for f in files:
        path = env / f
        if f.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f)
    env.mkdir(exist_ok=True)
    (env / "Dockerfile").write_text(text)
    return plan_dockerfile(env / "Dockerfile")


def test_no_dockerfile_places_nothing(tmp_path):
    p = plan_dockerfile(tmp_path / "Dockerfile")
    assert p.app_files == () and p.workdir == "/app" and p.stages == 0


def test_copy_from_an_image_is_not_a_local_source(tmp_path):
    p = plan(tmp_path, "FROM python:3.11\nCOPY --from=ghcr.io/astral-sh/uv:0.9.5 /uv /uvx /bin/\nWORKDIR /app\n")
    assert p.app_files == () and len(p.build_only) == 1 and p.build_only[0].startswith("line 2: COPY --from=")


def test_only_the_final_stage_is_placed(tmp_path):
    text = ("FROM debian AS build\nWORKDIR /src\nCOPY src/ ./\nFROM python\nCOPY --from=build /out/t /usr/bin/t\n"
            "COPY --from=0 /src/x /opt/\nWORKDIR /srv\nCOPY app.py .\n")
    p = plan(tmp_path, text, ("src/", "app.py"))
    assert p.app_files == (("app.py", "/srv/"),) and p.workdir == "/srv" and p.stages == 2
    assert [b.split(":")[0] for b in p.build_only] == ["line 5", "line 6"]


def test_a_stage_built_from_another_inherits_its_files_and_workdir(tmp_path):
    text = "FROM python AS Base\nWORKDIR /app/repo\nCOPY repo/ ./\nFROM base\nCOPY x .\nFROM base AS other\n"
    p = plan(tmp_path, text, ("repo/", "x"))
    assert p.app_files == (("repo/", "/app/repo/"),) and p.workdir == "/app/repo"  # `other`, from `base`
    p = plan(tmp_path, text.replace("FROM base AS other\n", ""), ("repo/", "x"))
    assert p.app_files == (("repo/", "/app/repo/"), ("x", "/app/repo/"))


def test_flags_json_form_and_context_relative_absolute_sources(tmp_path):
    text = ('FROM x\nCOPY --chown=root:root --chmod=644 --link a.txt /etc/a.txt\n'
            'COPY --chown=1000 ["b c.txt", "/app/b c.txt"]\nCOPY /d.txt /opt/d.txt\nCOPY e1.txt e2.txt /app/e\n')
    p = plan(tmp_path, text, ("a.txt", "b c.txt", "d.txt", "e1.txt", "e2.txt"))
    assert p.app_files == (("a.txt", "/etc/a.txt"), ("b c.txt", "/app/b c.txt"), ("d.txt", "/opt/d.txt"),
                           ("e1.txt", "/app/e/"), ("e2.txt", "/app/e/"))


def test_add_of_urls_is_not_local(tmp_path):
    p = plan(tmp_path, "FROM x\nADD https://example.com/a.tgz /tmp/\nADD git@github.com:o/r.git /src\n"
                       "ADD l.txt /app/\n",
             ("l.txt",))
    assert p.app_files == (("l.txt", "/app/"),) and len(p.build_only) == 2


def test_continuations_comments_and_heredocs(tmp_path):
    text = ("# escape=`\nFROM x\nRUN apt-get update && `\n# a comment inside the continuation\n"
            "    apt-get install -y curl\nRUN <<EOF\nCOPY not/an/instruction /app/\nEOF\n"
            "COPY a.txt `\n     /app/\nRUN echo $((1<<2))\nCOPY <<EOT /app/inline.txt\nhello\nEOT\n")
    assert [n for n, _ in logical_lines(text)] == [2, 3, 6, 9, 11, 12]
    p = plan(tmp_path, text, ("a.txt",))
    assert p.app_files == (("a.txt", "/app/"),) and p.build_only == ("line 12: COPY of a heredoc",)


def test_variables_are_resolved_or_named(tmp_path):
    text = ("ARG BASE=python\nARG HOME_DIR=/app\nFROM $BASE\nARG HOME_DIR\nARG TOKEN\nENV DATA=$HOME_DIR/data\n"
            "WORKDIR ${HOME_DIR}\nCOPY d.csv $DATA/\nCOPY ${SRC:-src}/ ./src/\nCOPY $TOKEN/x /app/\n"
            "COPY y.txt ${NOWHERE}/\n")
    p = plan(tmp_path, text, ("d.csv", "src/", "y.txt"))
    assert p.app_files == (("d.csv", "/app/data/"), ("src/", "/app/src/"))
    assert p.build_only[0].startswith("line 10: COPY source '$TOKEN/x'") and "NOWHERE" in p.build_only[1]
    assert substitute("${A:+yes}-$B", {"A": "1", "B": "b"}) == "yes-b" and substitute("$C", {}) is None


def test_globs_are_expanded(tmp_path):
    p = plan(tmp_path, "FROM x\nCOPY *.md /app/docs\n", ("b.md", "a.md", "c.txt"))
    assert p.app_files == (("a.md", "/app/docs/"), ("b.md", "/app/docs/"))


@pytest.mark.parametrize("line,says", [
    ("COPY missing.txt /app/", "'missing.txt' does not exist"),
    ("COPY ../outside /app/", "outside the build context"),
    ("COPY *.none /app/", "matches no file"),
    ("COPY only-one-word", "needs a source and a destination"),
    ("COPY 'unclosed /app/", "cannot parse COPY"),
])
def test_errors_name_the_dockerfile_and_line(tmp_path, line, says):
    env = tmp_path / "environment"
    env.mkdir()
    (env / "Dockerfile").write_text(f"FROM x\nWORKDIR /app\n{line}\n")
    with pytest.raises(TaskError) as err:
        parse_dockerfile_copies(env / "Dockerfile")
    assert err.value.file == str(env / "Dockerfile") and err.value.field == "line 3" and says in err.value.message
