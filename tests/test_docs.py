"""The README documents every command, and every command's --help has an example."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from reetrace.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "reetrace") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the root group loads its commands lazily
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        full = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
        else:
            out.append((full, cmd))
    return out


COMMANDS = _commands(main)
assert len(COMMANDS) >= 15, "the command listing found too few commands"


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_is_documented_with_an_example(name: str, cmd: click.Command) -> None:
    assert f"`{name}" in README, f"README.md does not document `{name}`"
    assert cmd.help and "Example: reetrace" in cmd.help, f"{name} --help has no example"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "```sh\n.venv/bin/pytest\n```" in README
    assert "\n.venv/bin/pytest\n" in ci
