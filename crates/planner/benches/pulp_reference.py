#!/usr/bin/env python3
"""The planner's LP (ARCHITECTURE.md, "Planner") built with PuLP and solved by HiGHS (highspy),
written from the issue-12 scenario semantics: a reference for the cost of our solve and for its
speed. Reads a scenario JSON (the `gridlet plan --input` format), prints one JSON line:
{"status", "feasible", "cost", "solve_ms", "total_ms", "binaries"} where solve_ms is the median
time HiGHS took and total_ms the median of building the model in PuLP plus solving it.

--exclusive where-pays  binaries only where simultaneous charge/discharge or import/export pays
                        for sure (negative prices; import below export price): the model our
                        planner solves first (the default);
--exclusive all         binaries on every step: the exact semantics (one direction per pair), to
                        check that ours loses nothing by leaving them out elsewhere.
"""
import argparse, json, statistics, sys, time

import pulp


def build(s, exclusive):
    n = len(s["price_import"])
    h = s["step_min"] / 60.0
    grid = s["grid"]
    bat = s.get("battery")
    car = s.get("car")
    imax, emax = grid["import_max_w"] / 1000, grid["export_max_w"] / 1000
    prices = s["price_import"] + s["price_export"]
    scale = 1 + max(abs(p) for p in s["price_import"]) + max(abs(p) for p in s["price_export"])
    eta = 1.0
    for st in (bat, car):
        if st:
            scale += st["wear_per_kwh"] + abs(st["end_value_per_kwh"])
            eta = min(eta, st["charge_efficiency"] * st["discharge_efficiency"])
    big = 1000 * scale / eta
    del prices

    m = pulp.LpProblem("plan", pulp.LpMinimize)
    cost = []  # the cost formula (what we report)
    penalty = []
    v = {"n": [], "e": [], "bc": [], "bd": [], "bs": [], "cc": [], "cd": [], "cs": []}
    nbin = 0
    low_possible = bool(car) and car["soc_wh"] < car["min_soc_wh"]
    drive = (car or {}).get("drive_wh") or [0.0] * n
    for t in range(n):
        n_t = pulp.LpVariable(f"n{t}", 0, imax)
        e_t = pulp.LpVariable(f"e{t}", 0, emax)
        v["n"].append(n_t)
        v["e"].append(e_t)
        cost += [s["price_import"][t] * h * n_t, -s["price_export"][t] * h * e_t]
        net = (s["load_w"][t] - s["pv_w"][t]) / 1000
        supply = [n_t]
        demand = [e_t]
        if net > imax:
            u = pulp.LpVariable(f"unserved{t}", 0)
            supply.append(u)
            penalty.append(big * h * u)
        if -net > emax:
            u = pulp.LpVariable(f"surplus{t}", 0)
            demand.append(u)
            penalty.append(big * h * u)
        burn_pays = s["price_import"][t] < 0 or s["price_export"][t] < 0
        if imax > 0 and emax > 0 and (exclusive == "all" or s["price_import"][t] < s["price_export"][t]):
            z = pulp.LpVariable(f"zg{t}", cat="Binary")
            nbin += 1
            m += n_t <= imax * z
            m += e_t <= emax * (1 - z)
        if bat:
            c = pulp.LpVariable(f"bc{t}", 0, bat["charge_max_w"] / 1000)
            d = pulp.LpVariable(f"bd{t}", 0, bat["discharge_max_w"] / 1000)
            soc = pulp.LpVariable(f"bs{t}", min(bat["min_soc_wh"], bat["soc_wh"]) / 1000,
                                  bat["capacity_wh"] / 1000)
            prev = v["bs"][-1] if v["bs"] else bat["soc_wh"] / 1000
            m += soc == prev + bat["charge_efficiency"] * h * c - h / bat["discharge_efficiency"] * d
            cost.append(bat["wear_per_kwh"] * h * d)
            supply.append(d)
            demand.append(c)
            if bat["charge_max_w"] > 0 and bat["discharge_max_w"] > 0 and (exclusive == "all" or burn_pays):
                z = pulp.LpVariable(f"zb{t}", cat="Binary")
                nbin += 1
                m += c <= bat["charge_max_w"] / 1000 * z
                m += d <= bat["discharge_max_w"] / 1000 * (1 - z)
            v["bc"].append(c)
            v["bd"].append(d)
            v["bs"].append(soc)
        if car:
            plugged = car["plugged"][t]
            cmax = car["charge_max_w"] / 1000 if plugged else 0
            dmax = car["discharge_max_w"] / 1000 if plugged and car["v2h"] else 0
            c = pulp.LpVariable(f"cc{t}", 0, cmax)
            d = pulp.LpVariable(f"cd{t}", 0, dmax)
            soc = pulp.LpVariable(f"cs{t}", None, car["capacity_wh"] / 1000)
            prev = v["cs"][-1] if v["cs"] else car["soc_wh"] / 1000
            m += soc == prev + car["charge_efficiency"] * h * c - h / car["discharge_efficiency"] * d - drive[t] / 1000
            low_possible = low_possible or drive[t] > 0
            if low_possible:
                low = pulp.LpVariable(f"low{t}", 0)
                penalty.append(big * low)
                m += soc + low >= car["min_soc_wh"] / 1000
            else:
                m += soc >= car["min_soc_wh"] / 1000
            cost.append(car["wear_per_kwh"] * h * d)
            supply.append(d)
            demand.append(c)
            if cmax > 0 and dmax > 0 and (exclusive == "all" or burn_pays):
                z = pulp.LpVariable(f"zc{t}", cat="Binary")
                nbin += 1
                m += c <= cmax * z
                m += d <= dmax * (1 - z)
            v["cc"].append(c)
            v["cd"].append(d)
            v["cs"].append(soc)
        m += pulp.lpSum(supply) + s["pv_w"][t] / 1000 == pulp.lpSum(demand) + s["load_w"][t] / 1000
    if bat:
        cost.append(-bat["end_value_per_kwh"] * v["bs"][-1])
    if car:
        cost.append(-car["end_value_per_kwh"] * v["cs"][-1])
        for i, dep in enumerate(car.get("departures", [])):
            if dep["step"] > 0:
                short = pulp.LpVariable(f"short{i}", 0)
                penalty.append(big * short)
                m += v["cs"][dep["step"] - 1] + short >= dep["soc_wh"] / 1000
    m += pulp.lpSum(cost) + pulp.lpSum(penalty)
    return m, cost, penalty, nbin


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--exclusive", choices=["where-pays", "all"], default="where-pays")
    a = ap.parse_args()
    with open(a.scenario) as f:
        s = json.load(f)
    solves, totals = [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        m, cost, penalty, nbin = build(s, a.exclusive)
        solver = pulp.HiGHS(msg=False)
        t1 = time.perf_counter()
        m.solve(solver)
        t2 = time.perf_counter()
        solves.append((t2 - t1) * 1000)
        totals.append((t2 - t0) * 1000)
    status = pulp.LpStatus[m.status]
    pen = sum(pulp.value(p) or 0 for p in penalty)
    print(json.dumps({
        "status": status,
        "feasible": pen < 1e-3,
        "cost": pulp.value(pulp.lpSum(cost)),
        "solve_ms": round(statistics.median(solves), 3),
        "total_ms": round(statistics.median(totals), 3),
        "binaries": nbin,
    }))
    return 0 if status == "Optimal" else 1


if __name__ == "__main__":
    sys.exit(main())
