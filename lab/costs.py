"""Carbon and cost of an inference, derived from a row's energy and throughput.

    carbon = carbon_setting()                       # world average, or $LAB_CARBON_REGION / $LAB_CARBON_G_PER_KWH
    price = price_setting(device_name="NVIDIA L4", device="cuda:0")  # an instance with that GPU, or an override
    row.update(derive(row, carbon, price))          # co2_g_per_1k, cost_usd_per_1m and what they assumed

Both are estimates made from two small tables, not measurements: a grid's
carbon intensity changes by hour and season (these are annual averages), and
cloud prices change (these are list prices at one date). Every derived row
says which table entry or override it used, so a number can be redone.
Choosing: explicit arguments first, then the environment variables, then the
defaults (carbon: the world average; price: an instance with the device's GPU,
a 2-vCPU instance for a CPU, and for a GPU no table entry has, no price at all:
cost None and ``price_note`` saying so, rather than a CPU's price ~100x too low).
"""
from __future__ import annotations

import dataclasses
import math
import os
import re

from lab.numbers import finite

# --- carbon ------------------------------------------------------------------------------------

CARBON_SOURCE = ("Ember, Yearly Electricity Data / Global Electricity Review 2024: 2023 annual average, "
                 "lifecycle g CO2e per kWh generated")
CARBON_YEAR = 2023

# region -> g CO2e per kWh of electricity generated: 2023 annual averages of the whole grid
# (generation mix, imports not counted), as published by Ember (the same figures Our World in
# Data shows as "carbon intensity of electricity generation"). Marginal and hourly intensities
# differ, often by 2x; this is what is citable for a year.
CARBON_INTENSITY: dict[str, float] = {
    "world": 481.0,
    "us": 369.0,
    "china": 582.0,
    "india": 713.0,
    "germany": 381.0,
    "france": 56.0,
    "poland": 662.0,
    "sweden": 41.0,
    "norway": 30.0,
    "canada": 170.0,
    "brazil": 98.0,
    "australia": 549.0,
}
DEFAULT_REGION = "world"


@dataclasses.dataclass(frozen=True)
class CarbonSetting:
    """Grid carbon intensity used for ``co2_g_per_1k``.

    g_per_kwh: g CO2e per kWh
    region: a CARBON_INTENSITY key, or 'override' for a number given by the user
    source: which rule chose it and where the number comes from
    """

    g_per_kwh: float
    region: str
    source: str

    @property
    def label(self) -> str:
        """The ``carbon_region`` column: region with the table's source and year, or 'override'."""
        return "override" if self.region == "override" else f"{self.region} (Ember, {CARBON_YEAR} annual average)"


# --- price ---------------------------------------------------------------------------------------

PRICE_DATE = "January 2025"
PRICE_SOURCE = (f"on-demand Linux list prices as listed in {PRICE_DATE} (AWS us-east-1, GCP us-central1); "
                "prices change (AWS cut P4/P5 GPU prices in mid-2025): override for your own")

# instance -> (USD per hour, hardware). Multi-GPU instances are priced per GPU (the instance's
# price / its GPU count), since the lab measures one device. Where each price comes from: PRICE_CITED.
PRICES: dict[str, tuple[float, str]] = {
    "aws-c7i.large": (0.08925, "2 vCPU Intel Sapphire Rapids, 4 GiB"),
    "aws-c7i.xlarge": (0.1785, "4 vCPU Intel Sapphire Rapids, 8 GiB"),
    "aws-m7i.large": (0.1008, "2 vCPU Intel Sapphire Rapids, 8 GiB"),
    "aws-m7i.xlarge": (0.2016, "4 vCPU Intel Sapphire Rapids, 16 GiB"),
    "gcp-n2-standard-2": (0.097118, "2 vCPU Intel Cascade Lake/Ice Lake, 8 GiB"),
    "aws-g4dn.xlarge": (0.526, "1x NVIDIA T4 16 GB, 4 vCPU"),
    "aws-g5.xlarge": (1.006, "1x NVIDIA A10G 24 GB, 4 vCPU"),
    "aws-g6.xlarge": (0.8048, "1x NVIDIA L4 24 GB, 4 vCPU"),
    "aws-g6e.xlarge": (1.861, "1x NVIDIA L40S 48 GB, 4 vCPU"),
    "aws-p3.2xlarge": (3.06, "1x NVIDIA V100 16 GB, 8 vCPU"),
    "gcp-a2-highgpu-1g": (3.673385, "1x NVIDIA A100 40 GB, 12 vCPU"),
    "aws-p4d.24xlarge-per-gpu": (32.7726 / 8, "1/8 of p4d.24xlarge: 1x NVIDIA A100 40 GB"),
    "aws-p5.48xlarge-per-gpu": (98.32 / 8, "1/8 of p5.48xlarge: 1x NVIDIA H100 80 GB"),
}
_AWS = f"AWS EC2 on-demand Linux list price, us-east-1, {PRICE_DATE}"
_GCP = f"GCP Compute Engine on-demand list price, us-central1, {PRICE_DATE}"
# instance -> where its price comes from (the figure in PRICES is that list price, or that price / GPUs).
PRICE_CITED: dict[str, str] = {
    "aws-c7i.large": _AWS, "aws-c7i.xlarge": _AWS, "aws-m7i.large": _AWS, "aws-m7i.xlarge": _AWS,
    "gcp-n2-standard-2": _GCP,
    "aws-g4dn.xlarge": _AWS, "aws-g5.xlarge": _AWS, "aws-g6.xlarge": _AWS,
    "aws-g6e.xlarge": _AWS,                                         # L40S: g6e.xlarge $1.861/h
    "aws-p3.2xlarge": _AWS,                                         # V100: p3.2xlarge $3.06/h
    "gcp-a2-highgpu-1g": _GCP,
    "aws-p4d.24xlarge-per-gpu": f"{_AWS}; per GPU = p4d.24xlarge $32.7726/h / 8 GPUs",
    "aws-p5.48xlarge-per-gpu": f"{_AWS}; per GPU = p5.48xlarge $98.32/h / 8 GPUs",
}
DEFAULT_CPU_INSTANCE = "aws-c7i.large"  # 2 vCPUs: the size of a small inference box (and of this lab's dev machine)

# GPU in the device name -> the instance priced for it. First match wins; whole words only,
# so L4 doesn't match an L40S, nor A10 an A100. A GPU not listed here gets no price (cost None, with the
# reason), never the CPU default: an unlisted H200, RTX 4090 or MI300X would otherwise cost ~100x too little.
# Not listed on purpose: H200 (no one-GPU on-demand list price we could cite), consumer GeForce cards
# (not sold as cloud instances by AWS/GCP), A100 80 GB (would need its own instance; it matches A100 and is
# priced as the 40 GB part, a known understatement).
_GPU_INSTANCES = (
    ("H100", "aws-p5.48xlarge-per-gpu"),
    ("A100", "aws-p4d.24xlarge-per-gpu"),
    ("V100", "aws-p3.2xlarge"),
    ("L40S", "aws-g6e.xlarge"),
    ("L4", "aws-g6.xlarge"),
    ("A10G", "aws-g5.xlarge"),
    ("A10", "aws-g5.xlarge"),
    ("T4", "aws-g4dn.xlarge"),
)
# Device names that say "GPU" when the caller doesn't pass the device itself.
_GPU_NAME = re.compile(r"nvidia|geforce|tesla|quadro|radeon|instinct|\bmps\b|apple|gpu", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class PriceSetting:
    """Machine price used for ``cost_usd_per_1m``.

    usd_per_hour: USD per hour, or None when no price is known (an unlisted GPU): cost is then None
    instance: a PRICES key, 'override' for a number given by the user, or None with no price
    source: the ``price_source`` column: where the price came from, one of
        'table:<instance> (<citation>)', 'env:LAB_PRICE_USD_PER_HOUR', 'env:LAB_PRICE_INSTANCE table:...',
        'arg:usd_per_hour', 'arg:instance table:...', or 'none: <why>'
    """

    usd_per_hour: float | None
    instance: str | None
    source: str

    @property
    def label(self) -> str | None:
        """The ``price_instance`` column: instance with the table's date, 'override', or None (no price)."""
        if self.instance is None:
            return None
        return "override" if self.instance == "override" else f"{self.instance} (list price, {PRICE_DATE})"


# --- choosing ----------------------------------------------------------------------------------

def _number(field: str, value) -> float:
    """A finite, non-negative float from ``value`` (a number or an env string), or a one-line ValueError."""
    try:
        number = float(value)
        ok = not isinstance(value, bool) and math.isfinite(number) and number >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{field}={value!r} is not allowed: a finite number >= 0")
    return number


def _region(field: str, value) -> str:
    key = str(value).strip().lower()
    if key not in CARBON_INTENSITY:
        raise ValueError(f"{field}={value!r} is not allowed: one of {', '.join(CARBON_INTENSITY)}")
    return key


def _instance(field: str, value) -> str:
    key = str(value).strip()
    if key not in PRICES:
        raise ValueError(f"{field}={value!r} is not allowed: one of {', '.join(PRICES)}")
    return key


def carbon_setting(region: str | None = None, g_per_kwh: float | None = None) -> CarbonSetting:
    """The grid intensity to use: ``g_per_kwh`` (g CO2e/kWh), else ``region``, else $LAB_CARBON_G_PER_KWH,
    else $LAB_CARBON_REGION, else the world average. Bad values raise a one-line ValueError."""
    if g_per_kwh is not None:
        return CarbonSetting(_number("g_per_kwh", g_per_kwh), "override", "given as g_per_kwh")
    if region is not None:
        key = _region("region", region)
        return CarbonSetting(CARBON_INTENSITY[key], key, f"given as region; {CARBON_SOURCE}")
    env_value, env_region = os.environ.get("LAB_CARBON_G_PER_KWH"), os.environ.get("LAB_CARBON_REGION")
    if env_value:
        return CarbonSetting(_number("LAB_CARBON_G_PER_KWH", env_value), "override", "from LAB_CARBON_G_PER_KWH")
    if env_region:
        key = _region("LAB_CARBON_REGION", env_region)
        return CarbonSetting(CARBON_INTENSITY[key], key, f"from LAB_CARBON_REGION; {CARBON_SOURCE}")
    return CarbonSetting(CARBON_INTENSITY[DEFAULT_REGION], DEFAULT_REGION,
                         f"default (world average; set LAB_CARBON_REGION for yours); {CARBON_SOURCE}")


def _table(key: str) -> str:
    return f"table:{key} ({PRICE_CITED.get(key, PRICE_SOURCE)})"


def instance_for(device_name: str | None, device: str | None = None) -> tuple[str | None, str]:
    """(instance, why) for a device: the instance with that GPU; for a CPU the 2-vCPU default; for a
    GPU no priced instance has, (None, why). ``device`` ('cpu', 'cuda:0', 'mps') says which it is;
    without it, a name that looks like a GPU's (NVIDIA, Tesla, Radeon, ...) counts as a GPU."""
    for gpu, instance in _GPU_INSTANCES:
        if device_name and re.search(rf"\b{gpu}\b", device_name, re.IGNORECASE):
            return instance, f"the instance with GPU {gpu}, for {device_name!r}"
    is_gpu = (str(device).split(":")[0] != "cpu") if device is not None else bool(
        device_name and _GPU_NAME.search(device_name))
    if is_gpu:
        return None, (f"no priced instance has GPU {device_name!r}; set LAB_PRICE_INSTANCE or "
                      "LAB_PRICE_USD_PER_HOUR for a cost")
    return DEFAULT_CPU_INSTANCE, "default for a CPU device (a 2-vCPU instance)"


def price_setting(device_name: str | None = None, instance: str | None = None,
                  usd_per_hour: float | None = None, device: str | None = None) -> PriceSetting:
    """The machine price to use: ``usd_per_hour`` (USD/h), else ``instance``, else $LAB_PRICE_USD_PER_HOUR,
    else $LAB_PRICE_INSTANCE, else an instance chosen by ``device_name`` and ``device`` (see instance_for):
    for a GPU no instance has, no price (usd_per_hour None, source 'none: <why>'), never a CPU's.
    Bad values raise a one-line ValueError."""
    if usd_per_hour is not None:
        return PriceSetting(_number("usd_per_hour", usd_per_hour), "override", "arg:usd_per_hour")
    if instance is not None:
        key = _instance("instance", instance)
        return PriceSetting(PRICES[key][0], key, f"arg:instance {_table(key)}")
    env_value, env_instance = os.environ.get("LAB_PRICE_USD_PER_HOUR"), os.environ.get("LAB_PRICE_INSTANCE")
    if env_value:
        return PriceSetting(_number("LAB_PRICE_USD_PER_HOUR", env_value), "override", "env:LAB_PRICE_USD_PER_HOUR")
    if env_instance:
        key = _instance("LAB_PRICE_INSTANCE", env_instance)
        return PriceSetting(PRICES[key][0], key, f"env:LAB_PRICE_INSTANCE {_table(key)}")
    key, why = instance_for(device_name, device)
    if key is None:
        return PriceSetting(None, None, f"none: {why}")
    return PriceSetting(PRICES[key][0], key, f"{_table(key)}; {why}")


# --- deriving ----------------------------------------------------------------------------------

J_PER_KWH = 3.6e6



def co2_g_per_1k(energy_mj_per_sample, g_per_kwh: float) -> float | None:
    """g CO2e per 1,000 inferences = mJ/sample x 1e-3 J/mJ x 1000 samples / 3.6e6 J/kWh x g/kWh.
    None when the energy is missing or not finite."""
    energy = finite(energy_mj_per_sample)
    return None if energy is None else energy * 1e-3 * 1000 / J_PER_KWH * g_per_kwh


def cost_usd_per_1m(throughput_sps, usd_per_hour) -> float | None:
    """USD per million inferences = USD/h / 3600 s/h x 1e6 samples / (samples/s).
    None when the throughput is missing, not finite or not positive, or there is no price."""
    rate, price = finite(throughput_sps), finite(usd_per_hour)
    return None if rate is None or rate <= 0 or price is None else price / 3600 * 1e6 / rate


def derive(row: dict, carbon: CarbonSetting, price: PriceSetting) -> dict:
    """The carbon and cost columns of ``row`` (reads energy_mj_per_sample and throughput_sps).

    co2_g_per_1k (g CO2e per 1,000 inferences) and cost_usd_per_1m (USD per 1,000,000 inferences)
    are None, not 0, when their input is missing or not finite (an error row) or there is no price
    (a GPU no table entry has); the settings used (carbon_g_per_kwh, carbon_region,
    price_usd_per_hour, price_instance) and price_source (where the price came from) are always
    filled in; price_note says why cost_usd_per_1m is None, and is None when it isn't.
    """
    cost = cost_usd_per_1m(row.get("throughput_sps"), price.usd_per_hour)
    note = None
    if cost is None:
        note = (price.source.removeprefix("none: ") if price.usd_per_hour is None
                else "no finite, positive throughput_sps for this row")
    return {
        "co2_g_per_1k": co2_g_per_1k(row.get("energy_mj_per_sample"), carbon.g_per_kwh),
        "carbon_g_per_kwh": carbon.g_per_kwh,
        "carbon_region": carbon.label,
        "cost_usd_per_1m": cost,
        "price_usd_per_hour": price.usd_per_hour,
        "price_instance": price.label,
        "price_source": price.source,
        "price_note": note,
    }
