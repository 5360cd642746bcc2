import textwrap

import pytest

from hub.network.file import NetworkError, check_network, load_network


def test_sample_network_loads():
    net = load_network("sim/networks/sample.yaml")
    assert {s["code"] for s in net["sites"]} >= {"900", "901", "100", "200"}
    assert all(len(u["pin_hash"]) == 64 for u in net["gun_users"])


def test_every_problem_is_listed_with_its_place():
    raw = {"sites": [{"code": "1", "name": "a"}, {"code": "1", "name": "b"}, {"code": "3", "name": "c", "center": "9"}],
           "shifts": [{"code": "S", "from": "1", "to": "2", "depart": "25:00", "transit_min": -1}],
           "bogus": []}
    with pytest.raises(NetworkError) as e:
        check_network(raw)
    text = str(e.value)
    for needle in ("duplicate code 1", "parent center 9", "unknown site 2", "depart must be HH:MM",
                   "transit_min", "unknown section 'bogus'"):
        assert needle in text


def test_bad_yaml_is_a_clear_error(tmp_path):
    p = tmp_path / "n.yaml"
    p.write_text(textwrap.dedent("sites: [unclosed"))
    with pytest.raises(NetworkError, match="not valid YAML"):
        load_network(str(p))
