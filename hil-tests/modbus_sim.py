#!/usr/bin/env python3
"""A Modbus server from pymodbus, an implementation independent of ours, for conformance tests.

    modbus_sim.py --map MAP.json --tcp 127.0.0.1:PORT [--ports N]
    modbus_sim.py --map MAP.json --rtu /dev/pts/N --baud 19200 --parity E

MAP.json: {"units": {"1": [{"space": "holding", "address": 100, "type": "f32", "order": "CDAB",
"value": 12.5}, ...]}}. The values are packed into registers here, with Python's struct module, following
the byte orders of the agent's README (ABCD big-endian; CDAB registers least significant first; BADC bytes
swapped in each register; DCBA both), so a test compares our decoder with an encoding it did not write.
Prints "ready" on stdout once it serves.
"""

import argparse
import asyncio
import json
import struct
import sys

from pymodbus.framer import FramerType
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import ModbusTcpServer, StartAsyncSerialServer, StartAsyncTcpServer

FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f",
           "u64": ">Q", "i64": ">q", "f64": ">d"}
SIZE = 10000


def registers(entry):
    """The register values of one map entry, in address order."""
    kind, order = entry["type"], entry.get("order", "ABCD")
    if kind == "string":
        raw = entry["value"].encode("ascii").ljust(2 * entry["registers"], b"\0")
        words = [raw[i:i + 2] for i in range(0, len(raw), 2)]
        if order in ("BADC", "DCBA"):
            words = [w[::-1] for w in words]
        return [int.from_bytes(w, "big") for w in words]
    if kind == "raw":
        return list(entry["value"])
    raw = struct.pack(FORMATS[kind], entry["value"])
    words = [raw[i:i + 2] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):
        words = words[::-1]
    if order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def context(units):
    slaves = {}
    for unit, entries in units.items():
        spaces = {s: [0] * SIZE for s in ("holding", "input", "coil", "discrete")}
        for e in entries:
            if e["space"] in ("coil", "discrete"):
                spaces[e["space"]][e["address"]] = 1 if e["value"] else 0
            else:
                for i, r in enumerate(registers(e)):
                    spaces[e["space"]][e["address"] + i] = r
        # pymodbus adds 1 to a request's address before the lookup: blocks start at 1 so that wire
        # address N is element N of the map.
        slaves[int(unit)] = ModbusSlaveContext(
            di=ModbusSequentialDataBlock(1, spaces["discrete"]),
            co=ModbusSequentialDataBlock(1, spaces["coil"]),
            hr=ModbusSequentialDataBlock(1, spaces["holding"]),
            ir=ModbusSequentialDataBlock(1, spaces["input"]),
        )
    return ModbusServerContext(slaves=slaves, single=False)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--map", required=True)
    p.add_argument("--tcp")
    p.add_argument("--rtu")
    p.add_argument("--baud", type=int, default=19200)
    p.add_argument("--parity", default="N")
    p.add_argument("--framer", default="socket", help="socket (Modbus TCP) or rtu (RTU frames over TCP)")
    p.add_argument("--ports", type=int, default=1, help="serve the same map on PORT .. PORT+N-1 (one device a port)")
    args = p.parse_args()
    with open(args.map) as f:
        ctx = context(json.load(f)["units"])
    print("ready", flush=True)
    if args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        if args.ports == 1:
            await StartAsyncTcpServer(context=ctx, address=(host, int(port)), framer=FramerType(args.framer))
        else:
            servers = [ModbusTcpServer(context=ctx, address=(host, int(port) + i), framer=FramerType(args.framer))
                       for i in range(args.ports)]
            await asyncio.gather(*(s.serve_forever() for s in servers))
    else:
        parity = {"none": "N", "even": "E", "odd": "O"}.get(args.parity, args.parity)
        await StartAsyncSerialServer(context=ctx, framer=FramerType.RTU, port=args.rtu, baudrate=args.baud,
                                     parity=parity, stopbits=1, bytesize=8)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
