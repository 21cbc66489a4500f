"""Generates the planner's synthetic 48 h scenarios (15-minute steps). Deterministic; rerun with
`python3 gen.py` after changing it. Shapes: a two-peak day-ahead price curve (EUR/kWh end-user
price = spot + 0.20 fees), a clear-sky PV bell of 8 kWp, a house load with morning and evening
peaks, and a car plugged in the evening that leaves at 07:00 with a target."""
import json, math

STEPS = 192

def spot(t, negative):
    h = (t * 0.25) % 24
    day = t // 96
    base = 0.09 + 0.05 * math.exp(-((h - 8) / 1.5) ** 2) + 0.08 * math.exp(-((h - 19) / 2) ** 2)
    base -= 0.06 * math.exp(-((h - 13) / 2.5) ** 2)
    base -= 0.03 * math.exp(-((h - 3) / 2) ** 2)
    if negative and day == 1:
        base -= 0.16 * math.exp(-((h - 13) / 2) ** 2)
    # quarter-hour saw tooth seen in 15-minute day-ahead auctions
    base += 0.004 * ((t % 4) - 1.5)
    return round(base, 4)

def pv(t):
    h = (t * 0.25) % 24
    return round(max(0.0, 8000 * math.sin(math.pi * (h - 6) / 14)) if 6 <= h <= 20 else 0.0, 1)

def load(t):
    h = (t * 0.25) % 24
    return round(300 + 900 * math.exp(-((h - 7.5) / 1) ** 2) + 1500 * math.exp(-((h - 19) / 1.5) ** 2), 1)

def scenario(negative):
    spot_ = [spot(t, negative) for t in range(STEPS)]
    plugged = [not (7 * 4 <= t < 18 * 4 or 31 * 4 <= t < 42 * 4) for t in range(STEPS)]
    drive = [0.0] * STEPS
    drive[12 * 4] = 9000.0
    drive[36 * 4] = 9000.0
    return {
        "step_min": 15,
        "price_import": [round(p + 0.20, 4) if p >= 0 or not negative else round(p + 0.12, 4) for p in spot_],
        "price_export": [round(min(p, 0.08), 4) if negative else 0.08 for p in spot_],
        "pv_w": [pv(t) for t in range(STEPS)],
        "load_w": [load(t) for t in range(STEPS)],
        "grid": {"import_max_w": 17000, "export_max_w": 6000},
        "battery": {"capacity_wh": 10000, "soc_wh": 5000, "min_soc_wh": 1000, "charge_max_w": 5000,
                    "discharge_max_w": 5000, "charge_efficiency": 0.95, "discharge_efficiency": 0.95,
                    "wear_per_kwh": 0.02, "end_value_per_kwh": 0.15},
        "car": {"capacity_wh": 60000, "soc_wh": 30000, "min_soc_wh": 10000, "charge_max_w": 11000,
                "discharge_max_w": 7000, "charge_efficiency": 0.93, "discharge_efficiency": 0.93,
                "wear_per_kwh": 0.05, "end_value_per_kwh": 0.15, "v2h": True,
                "plugged": plugged,
                "departures": [{"step": 28, "soc_wh": 48000}, {"step": 124, "soc_wh": 48000}],
                "drive_wh": drive},
    }

for name, neg in [("48h.json", False), ("48h-negative.json", True)]:
    with open(name, "w") as f:
        json.dump(scenario(neg), f, separators=(",", ":"))
        f.write("\n")
