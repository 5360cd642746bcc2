"""The simulated gun resolves next stops from its image exactly as the hub does from the slice."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_images import container
from contract.routing import RoutingData
from sim.gun_routing import GunRouter
from sim.gun_networks import generate_slice
from conftest import KEY


def gun_router(cfg) -> GunRouter:
    image = container.build_image(cfg, KEY, 0)
    return GunRouter.from_image(image, container.parse_image(image, KEY.public_key()))


@st.composite
def networks(draw):
    codes = sorted(draw(st.sets(st.text("0123456789AB", min_size=1, max_size=3), min_size=1, max_size=14)))
    centers = [c for c in codes if draw(st.booleans())]
    sites = [{"code": c, "name": c, "kind": "center" if c in centers else "site",
              "center": draw(st.sampled_from([None] + centers)) if centers else None,
              "province": None, "city": None, "district": None, "blocked": False} for c in codes]
    pick = st.sampled_from(codes)
    shift_codes = [f"S{i}" for i in range(draw(st.integers(0, 8)))]
    shifts = [{"code": s, "from": draw(pick), "to": draw(pick), "depart": "08:00", "transit_min": 60}
              for s in shift_codes]
    rules = {}
    for _ in range(draw(st.integers(0, 25))):
        rules[(draw(pick), draw(pick), draw(st.sampled_from([""] + shift_codes)))] = draw(pick)
    return {"v": 1, "site": codes[0], "network": "gen", "data_version": "1", "sites": sites,
            "shifts": shifts, "staff": [], "gun_users": [], "waybill_rules": [], "blocked_sites": [],
            "issuance": [], "next_stop": [{"site": a, "dest": b, "shift": h, "next": n}
                                          for (a, b, h), n in rules.items()]}


def compare_everywhere(cfg):
    hub = RoutingData.from_config(cfg)
    gun = gun_router(cfg)
    codes = [s["code"] for s in cfg["sites"]]
    dests = codes + [None, "", "NOPE"]
    shifts = [s["code"] for s in cfg["shifts"]] + [None, "", "NOSHIFT"]
    n = 0
    for site in codes + ["NOPE"]:
        for dest in dests:
            for shift in shifts:
                assert gun.resolve(site, dest, shift) == hub.resolve(site, dest, shift), (site, dest, shift)
                n += 1
    return n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_gun_resolves_like_the_hub_on_generated_networks(cfg):
    compare_everywhere(cfg)


def test_gun_resolves_like_the_hub_on_the_sample_network():
    from tests.test_gun_image_format import sample_slice

    for site in ("100", "900", "200"):
        assert compare_everywhere(sample_slice(site)) > 100


def test_gun_resolves_like_the_hub_on_a_national_sized_sample():
    cfg = generate_slice(sites=400, staff=10, rules=3000, users=1, seed=3)
    hub, gun = RoutingData.from_config(cfg), gun_router(cfg)
    codes = [s["code"] for s in cfg["sites"]]
    shifts = [None] + [s["code"] for s in cfg["shifts"]][:5]
    for site in codes[:3] + codes[-3:]:
        for dest in codes:
            for shift in shifts:
                assert gun.resolve(site, dest, shift) == hub.resolve(site, dest, shift)
