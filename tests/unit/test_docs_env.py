"""The deployment guide's environment reference and the sample environment file keep up with
the options the code defines at the moment the test runs."""

from __future__ import annotations

import re
from pathlib import Path

from ssooidc.config import options, settings_from
from ssooidc.ops.reference import BEGIN, END, environment_table, with_table

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deployment.md"
ENV_FILE = ROOT / "deploy" / "ssooidc.env"
SOURCES = ROOT / "src" / "ssooidc"
VARIABLE = re.compile(r"\bSSOOIDC_[A-Z0-9_]*[A-Z0-9]\b")
REGENERATE = "run: python -m ssooidc.ops.reference docs/deployment.md"


def documented_rows() -> dict[str, str]:
    """variable -> option, from the generated table of the guide."""
    text = GUIDE.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    rows = re.findall(r"^\| `(SSOOIDC_[A-Z0-9_]+)` \| `(--[a-z0-9-]+)` \|", table, re.MULTILINE)
    return dict(rows)


def variables_the_code_reads() -> set[str]:
    """Every SSOOIDC_* name written out in the server's source, besides the options (whose
    names config.py derives from their flags). The pytest plugin in ``testing/`` has variables
    of its own, for test runs, not for a deployment."""
    found: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        if "testing" not in path.relative_to(SOURCES).parts:
            found.update(VARIABLE.findall(path.read_text()))
    return found


def test_the_table_lists_exactly_the_options_the_code_defines() -> None:
    expected = {opt.env: opt.flag for _, opt in options()}
    documented = documented_rows()
    missing = sorted(set(expected) - set(documented))
    extra = sorted(set(documented) - set(expected))
    assert not missing and not extra, f"missing {missing}, not options {extra}; {REGENERATE}"
    assert documented == expected


def test_the_table_is_the_one_generated_from_the_options() -> None:
    text = GUIDE.read_text()
    assert with_table(text) == text, REGENERATE
    assert environment_table() in text


def test_every_variable_the_code_reads_is_in_the_guide() -> None:
    guide = set(VARIABLE.findall(GUIDE.read_text()))
    assert variables_the_code_reads() - guide == set()


def test_the_guide_and_the_sample_name_no_variable_the_code_lacks() -> None:
    known = {opt.env for _, opt in options()} | variables_the_code_reads()
    for path in (GUIDE, ENV_FILE):
        named = set(VARIABLE.findall(path.read_text()))
        assert named - known == set(), path.name


def test_the_sample_environment_file_is_valid_settings() -> None:
    assignments = {}
    for line in ENV_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assignments[name] = value
    settings = settings_from(environ=assignments)
    assert settings.public_url == "https://sso.example.com"
    assert settings.data_dir == "/var/lib/ssooidc"
    assert settings.host == "127.0.0.1"
