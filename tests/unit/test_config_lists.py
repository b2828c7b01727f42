"""List settings read what a person writes (spaces, commas, JSON) from the environment and from flags, and a bad
value is one line naming the variable, its flag and an example: from ``load_settings`` and from the ``ttsd`` CLI
(exit status 2, no traceback). Every list setting of Settings is covered, including ones added later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from ttsd.config import LIST_EXAMPLES, ConfigError, Settings, load_settings, split_list

SRC = Path(__file__).resolve().parents[2] / "src"
LIST_SETTINGS = sorted(
    name for name, field in Settings.model_fields.items() if typing.get_origin(field.annotation) in (tuple, list)
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("TTSD_")]:
        monkeypatch.delenv(name)


def _items(name: str) -> tuple[Any, ...]:
    """The typed items of the setting's documented example (ints for int lists)."""
    (item_type,) = {a for a in typing.get_args(Settings.model_fields[name].annotation) if a is not Ellipsis}
    return tuple(item_type(word) for word in LIST_EXAMPLES[name].split())


def _forms(name: str) -> dict[str, str]:
    words = [str(item) for item in _items(name)]
    return {
        "spaces": " ".join(words),
        "commas": ",".join(words),
        "commas and spaces": ", ".join(words),
        "padded": f"  {'  '.join(words)}\t",
        "json": json.dumps(list(_items(name))),
        "json with spaces": " " + json.dumps(list(_items(name)), indent=1) + " ",
    }


def test_the_list_settings_are_known() -> None:
    assert {"bucket_edges", "cors_origins"} <= set(LIST_SETTINGS)
    missing = [name for name in LIST_SETTINGS if name not in LIST_EXAMPLES]
    assert not missing, f"list settings without an example for their error message: {missing}"


@pytest.mark.parametrize("name", LIST_SETTINGS)
@pytest.mark.parametrize("form", ["spaces", "commas", "commas and spaces", "padded", "json", "json with spaces"])
def test_every_form_from_the_environment(name: str, form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"TTSD_{name.upper()}", _forms(name)[form])
    assert getattr(load_settings(), name) == _items(name)


@pytest.mark.parametrize("name", LIST_SETTINGS)
def test_one_item_from_the_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _items(name)[0]
    monkeypatch.setenv(f"TTSD_{name.upper()}", str(first))
    assert getattr(load_settings(), name) == (first,)


@pytest.mark.parametrize("name", LIST_SETTINGS)
def test_flags_give_lists_and_may_use_commas(name: str) -> None:
    words = [str(item) for item in _items(name)]
    assert getattr(load_settings(**{name: words}), name) == _items(name)
    assert getattr(load_settings(**{name: [",".join(words[:2]), *words[2:]]}), name) == _items(name)


def test_the_examples_in_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("16 32 64", "16,32,64", "[16,32,64]"):
        monkeypatch.setenv("TTSD_BUCKET_EDGES", value)
        assert load_settings().bucket_edges == (16, 32, 64)
    monkeypatch.setenv("TTSD_CORS_ORIGINS", "https://example.com")
    assert load_settings().cors_origins == ("https://example.com",)


def test_an_empty_value_is_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSD_CORS_ORIGINS", "")
    assert load_settings().cors_origins == ()
    assert split_list("  ") == []


@pytest.mark.parametrize("name", LIST_SETTINGS)
@pytest.mark.parametrize(("bad", "shown"), [("[broken", "(got '[broken')"), ('{"not": "a list"}', "(got {'not': ")])
def test_a_bad_value_is_one_line_with_the_variable_and_an_example(
    name: str, bad: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = f"TTSD_{name.upper()}"
    monkeypatch.setenv(env, bad)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(f"{env} (--{name.replace('_', '-')}): ")
    assert f"for example {env}=" in message
    assert shown in message
    # The example in the message is itself a valid value.
    example = message.split(f"for example {env}=", 1)[1]
    monkeypatch.setenv(env, json.loads(example) if example.startswith('"') else example)
    assert getattr(load_settings(), name) == _items(name)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("16 abc 64", "item 2: Input should be a valid integer"),
        ("64 32", "positive and strictly increasing"),
        ("[16,32", "not valid JSON"),
    ],
)
def test_bad_bucket_edges_say_what_is_wrong(value: str, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSD_BUCKET_EDGES", value)
    with pytest.raises(ConfigError, match=problem):
        load_settings()


def test_other_settings_get_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSD_PORT", "70000")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message == (
        "TTSD_PORT (--port): Input should be less than or equal to 65535 (got '70000'); for example TTSD_PORT=8080"
    )


def test_the_api_key_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(api_key=["not", "a", "string"])
    assert "not" not in caught.value.message.replace("TTSD_API_KEY", "")


@pytest.mark.parametrize(
    ("env", "value"), [("TTSD_BUCKET_EDGES", "16 abc 64"), ("TTSD_CORS_ORIGINS", "[broken"), ("TTSD_PORT", "x")]
)
def test_the_cli_prints_one_line_and_exits_2(env: str, value: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TTSD_")}
    result = subprocess.run(
        [sys.executable, "-m", "ttsd", "serve", "--voice", "fake"],
        env={**clean, "PYTHONPATH": str(SRC), env: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ttsd: error: {env} (")
    assert "for example" in lines[0]
