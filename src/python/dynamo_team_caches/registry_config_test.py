import yaml

from dynamo_team_caches.registry_config import HEADER, config, main


def test_the_registry_stores_under_the_data_dir_and_allows_deletes(capsys) -> None:
    assert main(["--data-dir", "/d 'q'", "--bind", "0.0.0.0", "--port", "5001"]) == 0
    written = capsys.readouterr().out
    assert written.startswith(HEADER)
    parsed = yaml.safe_load(written)
    assert parsed == config(data_dir="/d 'q'", bind="0.0.0.0", port=5001)
    assert parsed["storage"]["filesystem"]["rootdirectory"] == "/d 'q'/registry"
    assert parsed["storage"]["delete"]["enabled"] is True
    assert parsed["http"]["addr"] == "0.0.0.0:5001"
