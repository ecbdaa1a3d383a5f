import math

import pytest

from lab import costs
from lab.columns import COLUMNS
from lab.costs import CarbonSetting, PriceSetting, carbon_setting, derive, price_setting

ENV_VARS = ("LAB_CARBON_REGION", "LAB_CARBON_G_PER_KWH", "LAB_PRICE_INSTANCE", "LAB_PRICE_USD_PER_HOUR")


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_carbon_arithmetic_by_hand():
    # 1 mJ/sample x 1000 samples = 1 J = 1/3.6e6 kWh; at 475 g/kWh: 475/3.6e6 g per 1k inferences.
    out = derive({"energy_mj_per_sample": 1.0}, CarbonSetting(475.0, "override", "test"),
                 PriceSetting(1.0, "override", "test"))
    assert out["co2_g_per_1k"] == pytest.approx(475 / 3.6e6, rel=1e-12)
    assert out["carbon_g_per_kwh"] == 475.0 and out["carbon_region"] == "override"


def test_carbon_with_table_values():
    world, france = carbon_setting(), carbon_setting(region="France")
    assert (world.region, world.g_per_kwh) == ("world", 481.0) and "default" in world.source
    assert (france.region, france.g_per_kwh) == ("france", 56.0)
    # 36 mJ/sample -> 36 J per 1k = 1e-5 kWh; x 481 g/kWh = 4.81e-3 g
    out = derive({"energy_mj_per_sample": 36.0}, world, price_setting())
    assert out["co2_g_per_1k"] == pytest.approx(4.81e-3, rel=1e-12)
    assert out["carbon_region"] == "world (Ember, 2023 annual average)"


def test_cost_arithmetic_with_table_price():
    price = price_setting(instance="aws-c7i.large")
    assert price.usd_per_hour == 0.08925
    # 1000 samples/s -> 1e6 samples take 1000 s = 1/3.6 h; x 0.08925 USD/h
    out = derive({"throughput_sps": 1000.0}, carbon_setting(), price)
    assert out["cost_usd_per_1m"] == pytest.approx(0.08925 / 3.6, rel=1e-12)
    assert out["price_usd_per_hour"] == 0.08925
    assert out["price_instance"] == "aws-c7i.large (list price, January 2025)"
    assert out["price_source"] == ("arg:instance table:aws-c7i.large (AWS EC2 on-demand Linux list price, "
                                   "us-east-1, January 2025)")
    assert out["price_note"] is None
    assert costs.cost_usd_per_1m(1e6 / 3600, 36.0) == pytest.approx(36.0)  # 1e6 samples take exactly 1 h


def test_derive_gives_exactly_the_vocabulary_columns():
    out = derive({"energy_mj_per_sample": 1.0, "throughput_sps": 1.0}, carbon_setting(), price_setting())
    assert set(out) == {"co2_g_per_1k", "carbon_g_per_kwh", "carbon_region", "cost_usd_per_1m",
                        "price_usd_per_hour", "price_instance", "price_source", "price_note"}
    assert set(out) <= set(COLUMNS)


@pytest.mark.parametrize("row", [{}, {"energy_mj_per_sample": None, "throughput_sps": None, "error": "boom"},
                                 {"energy_mj_per_sample": float("nan"), "throughput_sps": float("inf")},
                                 {"energy_mj_per_sample": "n/a", "throughput_sps": 0.0}])
def test_missing_or_non_finite_inputs_give_none_not_zero(row):
    out = derive(row, carbon_setting(), price_setting())
    assert out["co2_g_per_1k"] is None and out["cost_usd_per_1m"] is None
    assert out["carbon_g_per_kwh"] == 481.0  # what was assumed is still recorded


def test_env_overrides_and_precedence(monkeypatch):
    monkeypatch.setenv("LAB_CARBON_REGION", "poland")
    assert carbon_setting().g_per_kwh == 662.0 and "LAB_CARBON_REGION" in carbon_setting().source
    monkeypatch.setenv("LAB_CARBON_G_PER_KWH", "100.5")
    assert carbon_setting() == CarbonSetting(100.5, "override", "from LAB_CARBON_G_PER_KWH")
    assert carbon_setting(region="norway").g_per_kwh == 30.0  # an explicit argument beats the environment
    assert carbon_setting(g_per_kwh=0).g_per_kwh == 0.0

    monkeypatch.setenv("LAB_PRICE_INSTANCE", "aws-g5.xlarge")
    assert price_setting(device_name="NVIDIA H100 80GB HBM3").instance == "aws-g5.xlarge"
    assert price_setting(device_name="NVIDIA H200").source.startswith("env:LAB_PRICE_INSTANCE table:aws-g5.xlarge (")
    monkeypatch.setenv("LAB_PRICE_USD_PER_HOUR", "2.5")
    assert price_setting() == PriceSetting(2.5, "override", "env:LAB_PRICE_USD_PER_HOUR")
    h200 = derive({"throughput_sps": 1e6 / 3600}, carbon_setting(), price_setting(device_name="NVIDIA H200"))
    assert h200["cost_usd_per_1m"] == pytest.approx(2.5) and h200["price_source"] == "env:LAB_PRICE_USD_PER_HOUR"
    assert price_setting(usd_per_hour=1).label == "override"
    assert price_setting(instance="aws-g6.xlarge").usd_per_hour == 0.8048


@pytest.mark.parametrize("name, instance", [
    ("NVIDIA H100 80GB HBM3", "aws-p5.48xlarge-per-gpu"), ("NVIDIA A100-SXM4-40GB", "aws-p4d.24xlarge-per-gpu"),
    ("NVIDIA L4", "aws-g6.xlarge"), ("NVIDIA L40S", "aws-g6e.xlarge"), ("NVIDIA A10G", "aws-g5.xlarge"),
    ("Tesla T4", "aws-g4dn.xlarge"), ("Tesla V100-SXM2-16GB", "aws-p3.2xlarge"),
    ("AMD EPYC", "aws-c7i.large"), (None, "aws-c7i.large")])
def test_price_default_follows_the_device(name, instance):
    price = price_setting(device_name=name)
    assert price.instance == instance
    assert price.usd_per_hour == costs.PRICES[instance][0]
    assert price.source.startswith(f"table:{instance} ({costs.PRICE_CITED[instance]})")


@pytest.mark.parametrize("name, device", [
    ("NVIDIA H200", None), ("NVIDIA H200", "cuda:0"), ("NVIDIA GeForce RTX 4090", None),
    ("AMD Instinct MI300X", None), ("Some Future Accelerator", "cuda:1"), ("Apple M3 Max", "mps")])
def test_unpriced_gpu_has_no_cost_and_says_why(name, device):
    # Before: priced as the 2-vCPU CPU instance, ~100x too low, and the reason never reached the row.
    price = price_setting(device_name=name, device=device)
    assert price.usd_per_hour is None and price.instance is None and price.label is None
    assert price.source == (f"none: no priced instance has GPU {name!r}; set LAB_PRICE_INSTANCE or "
                            "LAB_PRICE_USD_PER_HOUR for a cost")
    out = derive({"throughput_sps": 1000.0, "energy_mj_per_sample": 1.0}, carbon_setting(), price)
    assert out["cost_usd_per_1m"] is None and out["price_usd_per_hour"] is None
    assert out["price_source"] == price.source
    assert out["price_note"] == price.source.removeprefix("none: ")
    assert out["co2_g_per_1k"] is not None  # carbon doesn't need a price


def test_the_device_decides_cpu_or_gpu_when_given():
    assert price_setting(device_name="Intel Xeon Platinum 8480+", device="cpu").instance == costs.DEFAULT_CPU_INSTANCE
    assert price_setting(device_name="NVIDIA L4", device="cuda:0").instance == "aws-g6.xlarge"
    assert price_setting(device_name=None, device="cuda").usd_per_hour is None


def test_a_missing_throughput_is_the_note_when_the_price_is_known():
    out = derive({"throughput_sps": None}, carbon_setting(), price_setting())
    assert out["cost_usd_per_1m"] is None and out["price_usd_per_hour"] == 0.08925
    assert out["price_note"] == "no finite, positive throughput_sps for this row"


@pytest.mark.parametrize("call, env, field", [
    (lambda: carbon_setting(region="mars"), {}, "region='mars'"),
    (lambda: carbon_setting(g_per_kwh=-1), {}, "g_per_kwh=-1"),
    (lambda: carbon_setting(g_per_kwh="lots"), {}, "g_per_kwh='lots'"),
    (lambda: carbon_setting(), {"LAB_CARBON_REGION": "atlantis"}, "LAB_CARBON_REGION='atlantis'"),
    (lambda: carbon_setting(), {"LAB_CARBON_G_PER_KWH": "nan"}, "LAB_CARBON_G_PER_KWH='nan'"),
    (lambda: price_setting(instance="my-laptop"), {}, "instance='my-laptop'"),
    (lambda: price_setting(usd_per_hour=float("inf")), {}, "usd_per_hour=inf"),
    (lambda: price_setting(), {"LAB_PRICE_USD_PER_HOUR": "-3"}, "LAB_PRICE_USD_PER_HOUR='-3'"),
    (lambda: price_setting(), {"LAB_PRICE_INSTANCE": "x"}, "LAB_PRICE_INSTANCE='x'"),
])
def test_bad_values_raise_one_line_naming_field_value_and_allowed(call, env, field, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.startswith(field) and "is not allowed" in message
    if "REGION" in field or field.startswith("region"):
        assert "world" in message and "france" in message  # the regions are listed
    if "INSTANCE" in field or field.startswith("instance"):
        assert "aws-c7i.large" in message


def test_tables_are_sane():
    assert all(0 < v < 1200 for v in costs.CARBON_INTENSITY.values())
    assert costs.DEFAULT_REGION in costs.CARBON_INTENSITY and costs.DEFAULT_CPU_INSTANCE in costs.PRICES
    assert all(p > 0 and hw for p, hw in costs.PRICES.values())
    assert set(costs.PRICE_CITED) == set(costs.PRICES)  # every price says where it comes from
    assert all(instance in costs.PRICES for _, instance in costs._GPU_INSTANCES)
    assert math.isclose(costs.PRICES["aws-p5.48xlarge-per-gpu"][0], 98.32 / 8)
