"""bgd_config.py: the YAML BuildGrid reads, without BuildGrid (its tags read back as data)."""

from __future__ import annotations

import yaml

from dynamo_team_caches import bgd_config


class _Loader(yaml.SafeLoader):
    """Reads any `!tag` mapping back as {"tag": ..., **fields}."""


_Loader.add_multi_constructor(
    "!", lambda loader, name, node: {"tag": f"!{name}", **loader.construct_mapping(node, deep=True)}
)


def test_one_instance_serves_the_action_cache_the_cas_and_bytestream() -> None:
    text = bgd_config.dump(bgd_config.config(data_dir="/data", redis_port=7000, reapi_port=7001))
    assert text.startswith("# Written by team-caches.sh")
    data = yaml.load(text, Loader=_Loader)
    (server,) = data["server"]
    assert server == {"tag": "!channel", "address": "127.0.0.1:7001", "insecure-mode": True}
    (instance,) = data["instances"]
    assert instance["name"] == ""
    assert [s["tag"] for s in instance["services"]] == ["!action-cache", "!cas", "!bytestream"]
    cache = instance["services"][0]["cache"]
    assert cache["tag"] == "!redis-action-cache" and cache["allow-updates"] is True
    redis = {"tag": "!redis-connection", "host": "127.0.0.1", "port": 7000, "db": 1}
    assert cache["redis"] == redis
    assert cache["storage"] == {"tag": "!disk-storage", "path": "/data/cas"}


def test_shared_objects_are_written_once_and_referred_to_by_alias() -> None:
    text = bgd_config.dump(bgd_config.config(data_dir="/data"))
    for name in ("redis", "cas", "action-cache"):
        assert text.count(f"&{name} ") == 1, text
    assert (text.count("*cas"), text.count("*redis"), text.count("*action-cache")) == (3, 1, 1)


def test_a_data_dir_with_quotes_and_spaces_stays_one_string() -> None:
    odd = '/tmp/a "quoted" dir: with # and \\ in it'
    data = yaml.load(bgd_config.dump(bgd_config.config(data_dir=odd)), Loader=_Loader)
    assert data["storages"][0]["path"] == f"{odd}/cas"


def test_the_server_takes_as_many_rpcs_at_once_as_a_pants_client_opens() -> None:
    # BuildGrid refuses RPCs beyond its thread pool (5 per core by default): a 2-core server
    # failed a client's build fetching a PEX (the fresh-remote benchmark, 2026-11-27).
    pants_rpc_concurrency = 128  # [GLOBAL].remote_store_rpc_concurrency's default in 2.17
    assert bgd_config.config(data_dir="/d")["thread-pool-size"] >= pants_rpc_concurrency
