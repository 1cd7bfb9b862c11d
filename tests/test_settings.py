import pytest

from assistant.settings import Settings


def test_defaults_are_offline_and_local():
    s = Settings.load()
    assert s.index_dir == "index" and s.chroma_url == "" and s.llm_url == "" and s.host == "127.0.0.1"
    assert s.embed_url == ""  # the in-process MiniLM


def test_env_overrides_file_and_types_are_checked(tmp_path, monkeypatch):
    cfg = tmp_path / "a.toml"
    cfg.write_text('[assistant]\ntop_k = 4\nindex_dir = "from-file"\n')
    monkeypatch.setenv("ASSISTANT_CONFIG", str(cfg))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", "from-env")
    s = Settings.load()
    assert s.top_k == 4 and s.index_dir == "from-env"
    monkeypatch.setenv("ASSISTANT_TOP_K", "many")
    with pytest.raises(ValueError, match="top_k"):
        Settings.load()


def test_unknown_setting_is_an_error():
    with pytest.raises(ValueError, match="unknown setting"):
        Settings.load(colour="blue")


@pytest.mark.parametrize(
    "name,value",
    [("top_k", "0"), ("chunk_tokens", "1000"), ("port", "70000"), ("temperature", "-1"), ("embed_batch", "0")],
)
def test_values_that_cannot_work_are_refused_naming_the_variable(monkeypatch, name, value):
    from assistant.errors import SettingsError

    monkeypatch.setenv("ASSISTANT_" + name.upper(), value)
    with pytest.raises(SettingsError, match="ASSISTANT_" + name.upper()):
        Settings.load()


def test_config_prints_effective_values_with_secrets_masked(tmp_path):
    import json

    from test_server_mode import run_cli

    proc = run_cli(
        "config",
        "--json",
        env={
            "ASSISTANT_AUTH": "ann:hunter2",
            "ASSISTANT_TOP_K": "7",
            "ASSISTANT_API_KEYS": "k1,k2",
            "ASSISTANT_EMBED_API_KEY": "emb-hunter3",
        },
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["top_k"] == 7 and shown["auth"] == "****" and shown["api_keys"] == "****"
    assert shown["embed_api_key"] == "****"
    assert "hunter2" not in proc.stdout and "hunter3" not in proc.stdout


def test_every_setting_is_described_and_in_the_readme_table():
    from conftest import ROOT

    from assistant.settings import ENV_PREFIX, GROUPS, describe, markdown_table

    rows = describe()
    assert {r["name"] for r in rows} == set(Settings.model_fields)
    assert all(r["description"] and r["group"] in GROUPS for r in rows)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme  # regenerate with `make docs`
    assert all(f"`{ENV_PREFIX}{r['name'].upper()}`" in readme for r in rows)
