#!/usr/bin/env python3
"""Writes awattar-de-2025-06-16-week.json: recorded DE-LU day-ahead prices in aWATTar's
`marketdata` reply format (see README.md for the source).

Usage: python3 recorded_week.py SOURCE.csv > awattar-de-2025-06-16-week.json
SOURCE.csv: henner247/energy_charts, hourly_german_residual_load_and_prices_2024_present.csv
(columns timestamp_unix, ..., day_ahead_price_eur_mwh).
"""
import csv
import json
import sys

# Monday 2025-06-16 00:00 CEST to Tuesday 2025-06-24 00:00 CEST: the simulated week and the
# day after it (published on its last afternoon, as the market would).
FIRST, END = 1750024800, 1750024800 + 8 * 86400

rows = []
with open(sys.argv[1], newline="") as f:
    for r in csv.DictReader(f):
        t = int(r["timestamp_unix"])
        if FIRST <= t < END:
            rows.append((t, float(r["day_ahead_price_eur_mwh"])))
rows.sort()
assert [t for t, _ in rows] == list(range(FIRST, END, 3600)), "a gap in the source"
data = [
    {"start_timestamp": t * 1000, "end_timestamp": (t + 3600) * 1000,
     "marketprice": p, "unit": "Eur/MWh"}
    for t, p in rows
]
json.dump({"object": "list", "data": data}, sys.stdout, indent=1)
print()
