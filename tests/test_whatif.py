"""What-if presets (conf/experiment/whatif_*.yaml): a therapy effect without clinical
evidence is never a default; it is a preset that departs from the default on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.api import load_config

CONF = Path(__file__).resolve().parent.parent / "conf" / "experiment"
PRESETS = sorted(p.stem for p in CONF.glob("whatif_*.yaml"))


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_leaves(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def test_there_are_what_if_presets():
    assert {"whatif_cmx001_in_vitro", "whatif_maraviroc_anecdotal"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_a_what_if_only_changes_therapy_effects_and_departs_from_the_default(preset):
    spec = _leaves(yaml.safe_load((CONF / f"{preset}.yaml").read_text()))
    assert spec and all(k.startswith("therapies.") for k in spec), spec
    base = load_config([])
    what_if = load_config([f"+experiment={preset}"])
    for key, value in spec.items():
        _, therapy, group, lever = key.split(".")
        assert group == "levers"
        assert getattr(what_if.therapies[therapy], group)[lever] == value
        # the default is the evidence, which the what-if must leave
        assert getattr(base.therapies[therapy], group).get(lever, 0.0) != value
