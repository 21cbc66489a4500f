"""Writes the hand-made forecast responses of this directory (formats: shared/docs/ems-research.md §5)."""
import json, math, datetime as dt
UTC = dt.timezone.utc
day = dt.datetime(2026, 6, 21, tzinfo=UTC)
def sun(t):  # a clear-sky-like bell between 03:00Z and 19:00Z, 0..1
    h = (t - day).total_seconds() / 3600 % 24
    return max(0.0, math.sin((h - 3) / 16 * math.pi)) if 3 <= h <= 19 else 0.0

# forecast.solar estimate, 5 kWp, hourly with time=utc, two days
watts = {}
t = day
while t < day + dt.timedelta(days=2):
    watts[t.strftime("%Y-%m-%dT%H:%M:%S+00:00")] = round(4200 * sun(t))
    t += dt.timedelta(hours=1)
json.dump({"result": {"watts": watts, "watt_hours_period": {}, "watt_hours": {}, "watt_hours_day": {"2026-06-21": 41000, "2026-06-22": 41000}},
           "message": {"code": 0, "type": "success", "text": "", "info": {"latitude": 52.52, "longitude": 13.42, "distance": 0, "place": "Berlin", "timezone": "Europe/Berlin", "time": "2026-06-21T00:00:00+02:00", "time_utc": "2026-06-21T00:00:00+00:00"},
                       "ratelimit": {"zone": "IP", "period": 3600, "limit": 12, "remaining": 10}}},
          open("forecast-solar-estimate.json", "w"), indent=1)
json.dump({"result": None, "message": {"code": 429, "type": "error", "text": "Rate limit for API calls reached.", "ratelimit": {"period": 3600, "limit": 12, "remaining": 0}}},
          open("forecast-solar-ratelimit.json", "w"), indent=1)

# open-meteo minutely_15, three days, unixtime, GMT
times, gti, temp = [], [], []
t = day
while t < day + dt.timedelta(days=3):
    times.append(int(t.timestamp()))
    gti.append(round(950 * sun(t), 1))
    temp.append(round(16 + 10 * sun(t), 1))
    t += dt.timedelta(minutes=15)
gti[-1] = None  # the model's horizon ends before the last step
json.dump({"latitude": 52.52, "longitude": 13.42, "generationtime_ms": 0.5, "utc_offset_seconds": 0, "timezone": "GMT", "timezone_abbreviation": "GMT", "elevation": 38.0,
           "minutely_15_units": {"time": "unixtime", "temperature_2m": "°C", "global_tilted_irradiance_instant": "W/m²"},
           "minutely_15": {"time": times, "temperature_2m": temp, "global_tilted_irradiance_instant": gti}},
          open("open-meteo-minutely15.json", "w"), indent=1, ensure_ascii=False)
