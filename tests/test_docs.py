"""The README documents every command, every command's --help has an example, and every relative link
in README.md and docs/ resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import click
import pytest

from reetrace.cli import main
from reetrace.intake.files import read_events

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


# --------------------------------------------------------------------------------------------------
# Links: the repository carries its own contract (docs/), so every relative link in README.md and in
# docs/**/*.md must resolve to a file of this repository, and none may climb out of it.

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
#: ``[text](target "title")`` and ``![alt](target)``; the target may be wrapped in ``<>``.
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
#: ``[id]: target`` reference definitions.
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
_HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def links(text: str) -> list[str]:
    """Link targets of a Markdown text, leaving out code blocks and code spans."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", text))
    found = [m.group(1) for m in _INLINE.finditer(text)]
    found += [m.group(1) for m in _REFERENCE.finditer(text)]
    found += [m.group(1) for m in _HTML.finditer(text)]
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in found]


def broken_links(md: Path, text: str | None = None) -> list[str]:
    """What is wrong with the relative links of page ``md`` (its text, unless ``text`` is given)."""
    problems = []
    for target in links(md.read_text(encoding="utf-8") if text is None else text):
        if _SCHEME.match(target) or target.startswith("#"):
            continue  # a web address, mailto:, or an anchor in the same page
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if path.startswith("/"):
            problems.append(f"{target}: absolute path; link relative to the page")
            continue
        resolved = (md.parent / path).resolve()
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: points outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
    return problems


def test_link_checker_sees_what_it_must() -> None:
    text = (
        '[a](docs/README.md) ![b](<docs/x y.svg> "t") [c](https://e.org) [d](#anchor)\n'
        "`[e](not/a/link.md)`\n```sh\n[f](also/not.md)\n```\n[g]: ../outside.md\n"
    )
    assert links(text) == ["docs/README.md", "docs/x y.svg", "https://e.org", "#anchor", "../outside.md"]
    assert broken_links(ROOT / "README.md", "[x](../shared/BRIEF.md)") == [
        "../shared/BRIEF.md: points outside the repository"
    ]
    assert broken_links(ROOT / "docs" / "README.md", "[x](nope.md#a)") == ["nope.md#a: no such file"]
    assert broken_links(ROOT / "docs" / "README.md", "[x](/etc/passwd)") == [
        "/etc/passwd: absolute path; link relative to the page"
    ]
    assert broken_links(ROOT / "docs" / "README.md", "[x](../README.md#tests) [y](contract/)") == []


@pytest.mark.parametrize("md", MARKDOWN, ids=[str(p.relative_to(ROOT)) for p in MARKDOWN])
def test_relative_links_resolve_inside_the_repository(md: Path) -> None:
    assert broken_links(md) == []


def test_docs_index_links_every_contract_page() -> None:
    index = links((ROOT / "docs" / "README.md").read_text(encoding="utf-8"))
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs" / "contract").glob("*.md"))
    assert pages, "docs/contract/ has no pages"
    assert [p for p in pages if p not in {t.split("#")[0] for t in index}] == []
    assert "docs/README.md" in links(README)


def test_csv_example_reads_cleanly() -> None:
    with (ROOT / "docs" / "contract" / "example.csv").open("rb") as fh:
        records = list(read_events(fh, "csv", "example.csv"))
    assert records
    assert [p for r in records for p in r.problems] == []
    assert all(r.event is not None for r in records)
