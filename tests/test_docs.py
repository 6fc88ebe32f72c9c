"""README, .env.example, the Makefile and the CLI, checked against each other so the words
cannot drift from the code (issue 24). Fast: nothing here starts Docker or Ray.

  * every `make TARGET` README names is a target of the Makefile;
  * every `python -m bench ...` line README shows passes the CLI's own argument check, and
    every --flag README names is an option of a bench command;
  * every setting README names is in .env.example (or read by the entrypoint, the compose
    file's fixed environment or the tests);
  * every variable the Makefile and docker-compose.yml read is in .env.example;
  * every README link resolves (file and #anchor), and every "(docs/X.md, "Section")" cite in
    the compose file, .env.example, the Makefile and deploy/ names a heading that exists;
  * every `python -m bench [CMD] --help` exits 0 with its usage on stdout.
"""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path

import pytest

from bench import cli
from bench.errors import UsageError
from conftest import REPO, run_cli

README = (REPO / "README.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()
COMPOSE = (REPO / "docker-compose.yml").read_text()
ENV_EXAMPLE = (REPO / ".env.example").read_text()

# Flags README names that belong to other programs (Docker, Compose, Ray's own CLI).
OTHER_TOOLS_FLAGS = {"--working-dir", "--runtime-env", "--network", "--shm-size", "--scale", "--num-cpus",
                     "--rm", "--name", "--wait", "--address"}
# Upper-case words in README's code that are placeholders, not settings.
PLACEHOLDERS = {"MODULE", "FUNCTION", "VAR", "HEAD", "NAME", "FILE", "N", "X", "CMD", "B", "CSV", "JSON", "HTML",
                "CPU", "CPUS", "IQR", "CV"}
# Makefile variables that are not settings: its own machinery, set by make or by its targets.
MAKE_INTERNAL = {"SHELL", "CURDIR", "MAKE", "APPLIANCE", "RUN", "VERSION", "SOURCE_HASH", "BENCH_CONTAINER",
                 "REPRO_FILE", "RUN_NAME", "RUN_STAMP", "WORKERS_GIVEN", "WORKERS_DEFAULTED", "MUTATION_SCOPE", "MUTATION_RAY_SCOPE",
                 "MUTATION_FOCUS_RECORD", "MUTATION_FOCUS_RUNNER",
                 "COMPOSE_V2_BIN", "BUILD_BASE", "valid_workers"}


def code_spans(text: str) -> list[str]:
    """Inline `code` and the lines of fenced blocks."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return re.findall(r"`([^`\n]+)`", prose) + lines


def env_example_names() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, re.M))


def make_targets() -> set[str]:
    targets = set(re.findall(r"^([a-z][a-z0-9-]*)\s*:(?!=)", MAKEFILE, re.M))
    return targets | {t for line in re.findall(r"^\.PHONY:(.*(?:\\\n.*)*)", MAKEFILE, re.M) for t in line.split()}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.+)$", path.read_text(), re.M)}


# ---- make targets -------------------------------------------------------------------------

def readme_make_targets() -> set[str]:
    named = set()
    for span in code_spans(README):
        for part in re.split(r"&&|;|\|", span):
            words = part.split()
            if len(words) >= 2 and words[0] == "make":
                named |= {w for w in words[1:] if re.fullmatch(r"[a-z][a-z0-9-]*", w)}
    return named


def test_every_make_target_readme_names_exists():
    named = readme_make_targets()
    assert {"report", "test", "repro", "up", "down"} <= named  # the check sees README's targets at all
    assert sorted(named - make_targets()) == []


def test_make_help_lists_every_target_readme_names():
    helped = " ".join(re.findall(r'@echo "(make .*)"', MAKEFILE))
    assert sorted(t for t in readme_make_targets() - {"help"} if not re.search(rf"(?<![\w-]){t}(?![\w-])", helped)) == []


# ---- the CLI ----------------------------------------------------------------------------

def readme_bench_commands() -> list[list[str]]:
    """The argument lists of every `python -m bench ...` README shows (comments dropped)."""
    found = []
    for span in code_spans(README):
        span = span.split("  #")[0].strip()
        if "python -m bench" not in span:
            continue
        words = shlex.split(span.replace("\\", ""))
        starts = [i + 3 for i in range(len(words) - 2) if words[i:i + 3] == ["python", "-m", "bench"]]
        if starts:
            found.append(words[max(starts):])
    return found


def test_every_bench_command_readme_shows_passes_the_cli_check():
    commands = readme_bench_commands()
    assert len(commands) >= 8
    for argv in commands:
        if "--help" in argv or not argv:
            continue
        try:
            cli.check_arguments(argv)
        except UsageError as exc:
            pytest.fail(f"README shows `python -m bench {' '.join(argv)}`: {exc}")


def bench_flags() -> set[str]:
    flags = {"--help", "--version"}
    for name, method in cli.commands().items():
        flags |= {"--" + p.replace("_", "-") for p in inspect.signature(method).parameters if p != "self"}
    return flags


def test_every_flag_readme_names_is_a_bench_option():
    named = {flag for span in code_spans(README) if not span.lstrip().startswith(("docker", "ray ", "make"))
             for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", span)}
    assert "--tolerance" in named and "--workload" in named
    assert sorted(named - bench_flags() - OTHER_TOOLS_FLAGS) == []


@pytest.mark.parametrize("command", [None, *cli.commands()])
def test_every_help_exits_0_with_its_usage_on_stdout(command):
    proc = run_cli(*([command] if command else []), "--help", env={"PAGER": "false"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"usage: python -m bench {command or 'COMMAND'}")


# ---- settings -----------------------------------------------------------------------------

def test_every_setting_readme_names_is_in_env_example():
    elsewhere = "\n".join(p.read_text() for p in (REPO / "docker" / "entrypoint.sh", REPO / "tests" / "conftest.py"))
    named = {word for span in code_spans(README) if not span.lstrip().startswith("python")
             for word in re.findall(r"(?<![\w-])([A-Z][A-Z0-9_]{2,})(?![\w(])", span)}
    assert {"WORKERS", "SUITE", "NO_HEAVY", "TOLERANCE"} <= named
    missing = sorted(v for v in named - env_example_names() - PLACEHOLDERS
                     if not re.search(rf"\b{v}\b", elsewhere) and f"{v}:" not in COMPOSE)
    assert missing == [], "named in README, set nowhere a user can see: add them to .env.example"


def compose_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE))


def makefile_variables() -> set[str]:
    assigned = set(re.findall(r"^(?:override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[?:]?=", MAKEFILE, re.M))
    referenced = set(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", MAKEFILE))
    referenced |= set(re.findall(r"\$\((?:origin|if|or|filter)[ ,]+\$?\(?([A-Z][A-Z0-9_]*)", MAKEFILE))
    return (assigned | referenced) - MAKE_INTERNAL - {"DOCKER_BUILDKIT_", ""}


def test_every_variable_compose_and_the_makefile_read_is_in_env_example():
    read = compose_variables() | makefile_variables()
    assert {"APP_UID", "WORKERS", "NAME", "NO_HEAVY", "TOLERANCE", "UP_TIMEOUT", "TAIL", "SPEED_SUITE"} <= read
    assert sorted(read - env_example_names()) == []


def test_env_example_defaults_agree_with_compose_and_the_makefile():
    settings = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", ENV_EXAMPLE, re.M))
    for name, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", COMPOSE):
        assert settings.get(name) == default, f"{name}: compose says {default!r}, .env.example {settings.get(name)!r}"
    for name, default in re.findall(r"^([A-Z][A-Z0-9_]*) \?= ([^$\n]+)$", MAKEFILE, re.M):
        if name in settings:
            assert settings[name] == default.strip(), f"{name}: Makefile says {default!r}, .env.example {settings[name]!r}"


# ---- cross-references ------------------------------------------------------------------------

def readme_links() -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", README)


def test_every_readme_link_resolves():
    links = readme_links()
    assert len(links) >= 10
    broken = []
    for link in links:
        if re.match(r"https?://", link):
            continue
        target, _, anchor = link.partition("#")
        path = REPO / target if target else REPO / "README.md"
        if not path.exists():
            broken.append(f"{link}: no file {target}")
        elif anchor and anchor not in anchors(path):
            broken.append(f"{link}: no heading #{anchor} in {target or 'README.md'}")
    assert broken == []


def test_every_file_readme_names_in_code_exists():
    named = {m for span in code_spans(README)
             for m in re.findall(r"(?<![\w/.-])((?:docs|docker|scripts|deploy|tests|schema|bench|requirements)/[\w./-]+)",
                                 span)}
    assert "docker/entrypoint.sh" in named
    missing = sorted(p for p in named if not (REPO / p.rstrip(".")).exists())
    assert missing == []


CITED_FILES = ("docker-compose.yml", ".env.example", "Makefile", "deploy/kuberay/rayjob.yaml", "scripts/appliance.py")


def test_every_section_cited_in_the_config_files_exists():
    """"(docs/measurements.md, "Idle load of the compose cluster")" must name a real heading;
    a cite of a file that does not exist (DESIGN.md) or of README sections fails too."""
    checked = 0
    for name in CITED_FILES:
        text = re.sub(r"\n\s*#\s*", " ", (REPO / name).read_text())  # cites wrap across comment lines
        for doc, section in re.findall(r"\(((?:docs/)?[\w.-]+\.md), \"([^\"]+)\"", text):
            path = REPO / doc
            assert path.exists(), f"{name} cites {doc}, which does not exist"
            headings = re.findall(r"^#{1,6}\s+(.+)$", path.read_text(), re.M)
            assert any(h.strip().lower().startswith(section.lower()) for h in headings), \
                f"{name} cites {doc}, \"{section}\": no such heading"
            checked += 1
        assert not re.search(r"DESIGN\.md|§\d", text), f"{name} cites a section by a name that does not exist"
        assert not re.search(r"\(README, \"", text), f"{name} cites a README section; cite docs/ headings"
    assert checked >= 4


def test_readme_keeps_the_two_command_rule():
    section = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[0]
    assert block.split() == ["make", "report", "make", "test"]


def test_every_experiment_script_imports_names_that_exist():
    """docs/experiments/ are run by hand months later: a module moved (issue 26 moved the Ray
    modes to bench.engine.ray_modes) must not leave a script importing a name that is gone."""
    import ast
    import importlib

    root = Path(__file__).resolve().parent.parent
    missing = []
    for script in sorted((root / "docs" / "experiments").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{script.name}: {node.module}.{alias.name}")
    assert missing == []
