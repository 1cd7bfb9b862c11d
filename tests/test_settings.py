import pytest

from assistant.settings import Settings


def test_defaults_are_offline_and_local():
    s = Settings.load()
    assert s.index_dir == "index" and s.chroma_url == "" and s.llm_url == "" and s.host == "127.0.0.1"


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


@pytest.mark.parametrize("name,value", [("top_k", "0"), ("chunk_tokens", "1000"), ("port", "70000"), ("temperature", "-1")])
def test_values_that_cannot_work_are_refused_naming_the_variable(monkeypatch, name, value):
    from assistant.errors import SettingsError

    monkeypatch.setenv("ASSISTANT_" + name.upper(), value)
    with pytest.raises(SettingsError, match="ASSISTANT_" + name.upper()):
        Settings.load()
