"""Bad station settings are refused at start with one line naming the setting, no traceback."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

import cli
from edge.station import StationConfig, StationFileError

BASE = {"station": "st-100-1", "site": "100", "broker": "mqtt://127.0.0.1:1883"}


@pytest.mark.parametrize("change, names", [
    ({"window": 0}, "window"),
    ({"limits": {"max_pending": -5}}, "max_pending"),
    ({"limits": {"max_pending": "lots"}}, "max_pending"),
    ({"batch_size": "big"}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"broker": "http://x"}, "broker"),
    ({"broker": "mqtt://host:70000"}, "broker"),
    ({"outbox": "/proc/st.db"}, "outbox"),
    ({"outbox": "."}, "outbox"),
    ({"tls": {"ca": "/nonexistent/ca.pem"}}, "tls.ca"),
    ({"limits": "small"}, "limits"),
])
def test_a_bad_setting_is_named(tmp_path, change, names):
    f = tmp_path / "station.yaml"
    f.write_text(yaml.safe_dump({**BASE, "outbox": str(tmp_path / "o.db"), **change}))
    with pytest.raises(StationFileError) as e:
        StationConfig.load(str(f))
    assert names in str(e.value) and str(f) in str(e.value)
    r = CliRunner().invoke(cli.main, ["edge", "run", "--config", str(f)])
    assert r.exit_code == 1 and names in r.output and "Traceback" not in r.output


def test_good_settings_load(tmp_path):
    f = tmp_path / "station.yaml"
    f.write_text(yaml.safe_dump({**BASE, "outbox": "o.db", "window": "4", "batch_size": 100}))
    cfg = StationConfig.load(str(f))
    assert cfg.window == 4 and cfg.batch_size == 100 and cfg.outbox == str(tmp_path / "o.db")
