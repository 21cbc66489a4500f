"""pymodbus servers playing the inverters gridlet commands (pymodbus 3.7).

  inverters.py DEVICE (--tcp HOST:PORT | --rtu PTY) --unit N --state FILE [--values FILE]
      DEVICE: sunspec (--base B, --controls 123|704), huawei, sungrow.

  --values FILE: JSON {"KEY": raw} overriding the defaults below (KEY "103.W" for a SunSpec
  point, "marker" for the SunS marker, a register number for the others). For the Huawei, the
  file is read again whenever it changes (a test replaces it), and its key "fail" lists
  registers answered with exception 02 (illegal data address) from then on.
  --state FILE: rewritten (atomically) after every write a client makes, as JSON
  {"regs": {"ADDR": word, ...}, "writes": N, "reverted": bool}, so a test sees what the device
  was told.

The register maps are written from ../shared/docs/sunspec-models.txt and ems-research.md §3a/3d,
independently of gridlet's tables. The SunSpec server enforces the revert timeouts (123
WMaxLimPct_RvrtTms, 704 WMaxLimPctRvrtTms, 124 InOutWRte_RvrtTms) as a real inverter does:
a set-point not rewritten within its timeout is disabled.
"""
import argparse
import asyncio
import json
import os
import sys
import time

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.framer import FramerType
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer

# SunSpec point offsets (from the model's ID register), per sunspec-models.txt.
M103 = {"A": 2, "A_SF": 6, "PhVphA": 10, "PhVphB": 11, "PhVphC": 12, "V_SF": 13, "W": 14,
        "W_SF": 15, "Hz": 16, "Hz_SF": 17, "WH": 24, "WH_SF": 26, "DCV": 29, "DCV_SF": 30,
        "DCW": 31, "DCW_SF": 32, "St": 38}
M123 = {"Conn": 4, "WMaxLimPct": 5, "WMaxLimPct_RvrtTms": 7, "WMaxLim_Ena": 9,
        "WMaxLimPct_SF": 23}
M704 = {"WMaxLimPctEna": 14, "WMaxLimPct": 15, "WMaxLimPctRvrt": 16, "WMaxLimPctEnaRvrt": 17,
        "WMaxLimPctRvrtTms": 18, "WMaxLimPct_SF": 54}
M124 = {"WChaMax": 2, "StorCtl_Mod": 5, "ChaState": 8, "InBatV": 10, "ChaSt": 11,
        "OutWRte": 12, "InWRte": 13, "InOutWRte_RvrtTms": 15, "WChaMax_SF": 18,
        "ChaState_SF": 22, "InBatV_SF": 24, "InOutWRte_SF": 25}
M203 = {"AphA": 3, "AphB": 4, "AphC": 5, "A_SF": 6, "PhV": 7, "PhVphA": 8, "PhVphB": 9,
        "PhVphC": 10, "V_SF": 15, "Hz": 16, "Hz_SF": 17, "W": 18, "WphA": 19, "WphB": 20,
        "WphC": 21, "W_SF": 22, "PF": 33, "PF_SF": 37, "TotWhExp": 38, "TotWhImp": 46,
        "TotWh_SF": 54}
LENGTHS = {1: 66, 103: 50, 123: 24, 124: 24, 203: 105, 704: 59}
POINTS = {103: M103, 123: M123, 124: M124, 203: M203, 704: M704}
WIDE = {"103.WH", "203.TotWhExp", "203.TotWhImp", "704.WMaxLimPctRvrtTms"}

SUNSPEC_DEFAULTS = {
    # Inverter: 2345.6 W AC (W_SF -1), 2500 W DC, 12 345 678 Wh, 400.0 V DC, St 4 (MPPT).
    "103.A": 1020, "103.A_SF": -2, "103.PhVphA": 2301, "103.PhVphB": 0xFFFF,
    "103.PhVphC": 0xFFFF, "103.V_SF": -1, "103.W": 23456, "103.W_SF": -1, "103.Hz": 5001,
    "103.Hz_SF": -2, "103.WH": 12345678, "103.WH_SF": 0, "103.DCV": 4000, "103.DCV_SF": -1,
    "103.DCW": 250, "103.DCW_SF": 1, "103.St": 4,
    "123.Conn": 1, "123.WMaxLimPct": 1000, "123.WMaxLim_Ena": 0, "123.WMaxLimPct_SF": -1,
    "704.WMaxLimPctEna": 0, "704.WMaxLimPct": 10000, "704.WMaxLimPct_SF": -2,
    # Storage: WChaMax 5000 W, 55.5 % charged, 51.2 V, rates in 0.1 %.
    "124.WChaMax": 500, "124.WChaMax_SF": 1, "124.StorCtl_Mod": 0, "124.ChaState": 555,
    "124.ChaState_SF": -1, "124.InBatV": 512, "124.InBatV_SF": -1, "124.ChaSt": 3,
    "124.OutWRte": 1000, "124.InWRte": 1000, "124.InOutWRte_SF": -1,
    # Meter: -1234.5 W (export), phases, 230.x V, 50.06 Hz, 4321.5 / 1234.25 kWh; PhVphC not
    # implemented (0x8000).
    "203.AphA": 175, "203.AphB": 188, "203.AphC": 175, "203.A_SF": -2, "203.PhV": 2305,
    "203.PhVphA": 2305, "203.PhVphB": 2293, "203.PhVphC": 0x8000, "203.V_SF": -1,
    "203.Hz": 5006, "203.Hz_SF": -2, "203.W": -12345, "203.WphA": -4000, "203.WphB": -4345,
    "203.WphC": -4000, "203.W_SF": -1, "203.PF": -95, "203.PF_SF": 0,
    "203.TotWhImp": 4321500, "203.TotWhExp": 1234250, "203.TotWh_SF": 0,
}

# Huawei SUN2000 holding registers (ems-research.md §3a; the readings as huawei-solar-lib lists
# them: 32080 active power I32 W, 37760 battery SoC U16 gain 10, 37765 battery power I32 W with
# + = charging).
HUAWEI_DEFAULTS = {
    40125: 1000,                      # 100.0 % (gain 10)
    40126: 10000,                     # U32 W: no derating on a 10 kW inverter
    47415: 0, 47416: 0,               # unlimited
    37113: 1500,                      # I32 W, + = export
    47100: 0, 47247: 0, 47249: 0,
    32080: 4321,                      # I32 W AC output
    37760: 555,                       # 55.5 %
    37765: -1800,                     # I32 W: discharging 1800 W
}
HUAWEI_WIDE = {40126, 47416, 37113, 47247, 47249, 32080, 37765}

# Sungrow SH: (table, listed register) -> value; the protocol address is listed - 1.
SUNGROW_DEFAULTS = {
    ("ir", 13000): 0x800,             # Forced Run
    ("ir", 5147): 3995,               # bus voltage 399.5 V
    ("hr", 13050): 0, ("hr", 13051): 0xCC, ("hr", 13052): 0,
}


def words(v, wide):
    v = int(v)
    if wide:
        v &= 0xFFFFFFFF
        return [v >> 16, v & 0xFFFF]
    return [v & 0xFFFF]


class Block(ModbusSequentialDataBlock):
    """Holding registers that note a client's writes and refuse the registers in `failing`."""

    def __init__(self, address, values):
        super().__init__(address, values)
        self.on_write = None
        self.failing = set()

    def validate(self, address, count=1):
        if any(a in self.failing for a in range(address, address + count)):
            return False
        return super().validate(address, count)

    def setValues(self, address, values):
        super().setValues(address, values)
        if self.on_write:
            self.on_write(address, values)


def stamp(path):
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns)


def load(path):
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)


async def serve(args):
    hr = Block(0, [0] * 65536)
    ir = ModbusSequentialDataBlock(0, [0] * 65536)
    dev = ModbusSlaveContext(ir=ir, hr=hr, zero_mode=True)
    ctx = ModbusServerContext(slaves={args.unit: dev}, single=False)
    state = {"regs": {}, "writes": 0, "reverted": False}
    last_write = {"t": time.monotonic()}
    watched = []  # addresses reported in the state file
    reverts = []  # (enable address, revert-time address, wide)

    def dump():
        state["regs"] = {str(a): hr.getValues(a, 1)[0] for a in watched}
        tmp = args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, args.state)

    values = load(args.values)
    if args.device == "sunspec":
        base = args.base
        v = dict(SUNSPEC_DEFAULTS)
        v.update(values)
        hr.setValues(base, words(v.get("marker", 0x53756E53), True))
        addr = base + 2
        controls = 704 if args.controls == 704 else 123
        for model in (1, 103, controls, 124, 203):
            hr.setValues(addr, [model, LENGTHS[model]])
            for name, off in POINTS.get(model, {}).items():
                key = f"{model}.{name}"
                if key in v:
                    hr.setValues(addr + off, words(v[key], key in WIDE))
            if model in (123, 704, 124):
                watched.extend(range(addr, addr + 2 + LENGTHS[model]))
            if model == 123:
                reverts.append((addr + 9, addr + 7, False))
            if model == 704:
                reverts.append((addr + 14, addr + 18, True))
            if model == 124:
                reverts.append((addr + 5, addr + 15, False))
            addr += 2 + LENGTHS[model]
        hr.setValues(addr, [0xFFFF, 0])
    elif args.device == "huawei":
        v = {int(k): x for k, x in values.items() if k != "fail"}
        hr.failing = set(values.get("fail", []))
        regs = dict(HUAWEI_DEFAULTS)
        regs.update(v)
        for a, x in regs.items():
            hr.setValues(a, words(x, a in HUAWEI_WIDE))
            watched.extend(range(a, a + (2 if a in HUAWEI_WIDE else 1)))
    else:
        regs = dict(SUNGROW_DEFAULTS)
        for k, x in values.items():
            table, reg = k.split(".")
            regs[(table, int(reg))] = x
        for (table, reg), x in regs.items():
            (hr if table == "hr" else ir).setValues(reg - 1, [x])
            if table == "hr":
                watched.append(reg - 1)

    def on_write(address, values):
        state["writes"] += 1
        last_write["t"] = time.monotonic()
        dump()

    dump()
    hr.on_write = on_write

    async def revert():
        # A set-point enabled and not rewritten within its revert time is disabled.
        while True:
            await asyncio.sleep(0.1)
            for ena, tms, wide in reverts:
                if hr.getValues(ena, 1)[0] == 0:
                    continue
                w = hr.getValues(tms, 2)
                secs = (w[0] << 16 | w[1]) if wide else w[0]
                if secs and time.monotonic() - last_write["t"] > secs:
                    hr.on_write = None
                    hr.setValues(ena, [0])
                    hr.on_write = on_write
                    state["reverted"] = True
                    dump()

    async def reload():
        # The test changes the Huawei's readings by replacing the values file.
        seen = stamp(args.values) if args.values else None
        while args.device == "huawei" and args.values:
            await asyncio.sleep(0.05)
            try:
                mtime = stamp(args.values)
                if mtime == seen:
                    continue
                seen = mtime
                new = load(args.values)
            except (OSError, ValueError):
                continue
            hr.on_write = None
            for k, x in new.items():
                if k != "fail":
                    a = int(k)
                    hr.setValues(a, words(x, a in HUAWEI_WIDE))
            hr.failing = set(new.get("fail", []))
            hr.on_write = on_write
            dump()

    asyncio.get_running_loop().create_task(revert())
    asyncio.get_running_loop().create_task(reload())
    print("serving", flush=True)
    if args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        await StartAsyncTcpServer(context=ctx, address=(host, int(port)))
    else:
        await StartAsyncSerialServer(context=ctx, port=args.rtu, baudrate=9600,
                                     bytesize=8, parity="N", stopbits=1,
                                     framer=FramerType.RTU)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("device", choices=["sunspec", "huawei", "sungrow"])
    p.add_argument("--tcp")
    p.add_argument("--rtu")
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--values")
    p.add_argument("--state", required=True)
    p.add_argument("--base", type=int, default=40000)
    p.add_argument("--controls", type=int, default=123)
    args = p.parse_args()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
