"""pymodbus peers for gridlet's Modbus tests (pymodbus 3.7).

  peer.py server MODEL (--tcp HOST:PORT | --rtu PTY) --unit N --values FILE
      Plays meter MODEL (sdm630, sdm72, dtsu666). FILE holds JSON {field: value} and is re-read
      whenever it changes, so a test can change the readings while the server runs.
  peer.py huawei (--tcp HOST:PORT | --udp HOST:PORT | --rtu PTY) --unit N --rounds K
      Polls like a Huawei SUN2000 polls its DTSU666-H (2001 x1, 2102 x80, 2214 x10, repeatedly)
      and prints one JSON line per round with what it decoded, or the exception.

The register maps here are written from the manufacturers' documentation as summarised in
../shared/docs/ems-research.md §3a/3b, independently of gridlet's models/*.toml, so that a
mistake in a table shows up as a test failure.
"""
import argparse
import asyncio
import json
import os
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.framer import FramerType


def f32(v):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


# field -> (address, scale): raw register value = SI value / scale
SDM630 = {
    "voltage_l1": (0x00, 1), "voltage_l2": (0x02, 1), "voltage_l3": (0x04, 1),
    "current_l1": (0x06, 1), "current_l2": (0x08, 1), "current_l3": (0x0A, 1),
    "power_l1": (0x0C, 1), "power_l2": (0x0E, 1), "power_l3": (0x10, 1),
    "power": (0x34, 1), "frequency": (0x46, 1),
    "import_kwh": (0x48, 1), "export_kwh": (0x4A, 1),
    "import_kwh_l1": (0x15A, 1), "export_kwh_l1": (0x160, 1),
}
SDM72 = {k: v for k, v in SDM630.items() if k not in ("import_kwh_l1", "export_kwh_l1")}
DTSU666 = {
    "voltage_l12": (0x2000, 0.1),
    "voltage_l1": (0x2006, 0.1), "voltage_l2": (0x2008, 0.1), "voltage_l3": (0x200A, 0.1),
    "current_l1": (0x200C, 0.001), "current_l2": (0x200E, 0.001), "current_l3": (0x2010, 0.001),
    "power": (0x2012, 0.1), "power_l1": (0x2014, 0.1), "power_l2": (0x2016, 0.1),
    "power_l3": (0x2018, 0.1), "frequency": (0x2044, 0.01),
    "import_kwh": (0x101E, 1), "export_kwh": (0x1028, 1),
}
MODELS = {"sdm630": (SDM630, 4), "sdm72": (SDM72, 4), "dtsu666": (DTSU666, 3)}


def load(path):
    with open(path) as f:
        return json.load(f)


async def serve(args):
    regs, fc = MODELS[args.model]
    block = ModbusSequentialDataBlock(0, [0] * 0x3000)
    dev = ModbusSlaveContext(ir=block, hr=block, zero_mode=True)
    ctx = ModbusServerContext(slaves={args.unit: dev}, single=False)

    def apply(values):
        for field, v in values.items():
            if field not in regs:
                continue
            addr, scale = regs[field]
            raw = v if isinstance(v, str) else v / scale
            dev.setValues(fc, addr, f32(float(raw)))

    apply(load(args.values))

    async def watch():
        stamp = os.stat(args.values).st_mtime_ns
        while True:
            await asyncio.sleep(0.05)
            s = os.stat(args.values).st_mtime_ns
            if s != stamp:
                stamp = s
                apply(load(args.values))

    asyncio.get_running_loop().create_task(watch())
    print("serving", flush=True)
    if args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        await StartAsyncTcpServer(context=ctx, address=(host, int(port)))
    elif args.rtu_over_tcp:
        # A serial-to-Ethernet converter: RTU frames (with CRC, no MBAP header) on TCP.
        host, port = args.rtu_over_tcp.rsplit(":", 1)
        await StartAsyncTcpServer(context=ctx, address=(host, int(port)),
                                  framer=FramerType.RTU)
    else:
        await StartAsyncSerialServer(context=ctx, port=args.rtu, baudrate=9600,
                                     bytesize=8, parity="N", stopbits=1,
                                     framer=FramerType.RTU)


def huawei(args):
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient, ModbusUdpClient
    if args.udp:
        host, port = args.udp.rsplit(":", 1)
        client = ModbusUdpClient(host, port=int(port), timeout=2)
    elif args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        client = ModbusTcpClient(host, port=int(port), timeout=2)
    elif args.rtu_over_tcp:
        host, port = args.rtu_over_tcp.rsplit(":", 1)
        client = ModbusTcpClient(host, port=int(port), framer=FramerType.RTU, timeout=2)
    else:
        client = ModbusSerialClient(args.rtu, framer=FramerType.RTU, baudrate=9600,
                                    bytesize=8, parity="N", stopbits=1, timeout=2)
    if not client.connect():
        print(json.dumps({"error": "cannot connect"}), flush=True)
        return 1
    names = {2102: "current_l1", 2104: "current_l2", 2106: "current_l3",
             2108: "voltage_ln_avg", 2110: "voltage_l1", 2112: "voltage_l2",
             2114: "voltage_l3", 2124: "frequency", 2126: "power", 2128: "power_l1",
             2130: "power_l2", 2132: "power_l3", 2150: "power_factor",
             2166: "import_kwh", 2174: "export_kwh"}
    for _ in range(args.rounds):
        out = {}
        try:
            for addr, count in ((2001, 1), (2102, 80), (2214, 10)):
                rr = client.read_holding_registers(addr, count, slave=args.unit)
                if rr.isError():
                    out["error"] = f"{addr}x{count}: {rr}"
                    break
                if len(rr.registers) != count:
                    out["error"] = f"{addr}x{count}: {len(rr.registers)} registers"
                    break
                if addr == 2001:
                    out["r2001"] = rr.registers[0]
                elif addr == 2214:
                    out["r2214"] = rr.registers
                else:
                    for a, name in names.items():
                        i = a - 2102
                        out[name] = struct.unpack(
                            ">f", struct.pack(">HH", *rr.registers[i:i + 2]))[0]
        except Exception as e:  # a timeout or a broken frame
            out["error"] = repr(e)
        print(json.dumps(out), flush=True)
        if args.period:
            import time
            time.sleep(args.period)
    client.close()
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "huawei"])
    p.add_argument("model", nargs="?")
    p.add_argument("--tcp")
    p.add_argument("--rtu")
    p.add_argument("--udp")
    p.add_argument("--rtu-over-tcp")
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--values")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--period", type=float, default=0.2)
    args = p.parse_args()
    if args.role == "server":
        asyncio.run(serve(args))
        return 0
    return huawei(args)


if __name__ == "__main__":
    sys.exit(main())
