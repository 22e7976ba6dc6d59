#!/usr/bin/env python3
"""Writes the Node-RED side of benches/nodered.sh: one modbus-client and one modbus-read per device, a
function node per device decoding 50 float32 (CDAB) into line protocol, and one shared http request node
posting to the historian.

    flows.py DEVICES FIRST_PORT HISTORIAN_URL > flows.json
"""

import json
import sys

DECODE = r"""
const r = msg.payload;
if (!Array.isArray(r) || r.length < 100) { return null; }
const ts = Date.now();
const b = Buffer.alloc(4);
const lines = [];
for (let i = 0; i < 50; i++) {
    // CDAB: the register holding the low word comes first.
    b.writeUInt16BE(r[2 * i + 1], 0);
    b.writeUInt16BE(r[2 * i], 2);
    const tag = DEVICE + ".kw" + String(i).padStart(2, "0");
    lines.push(DEVICE + ",site=bench,gateway=nodered,tag=" + tag + " value=" + b.readFloatBE(0) + " " + ts);
}
return { payload: lines.join("\n"), headers: { "Content-Type": "text/plain; charset=utf-8" } };
"""


def main():
    devices, first_port, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    tab = "bench"
    nodes = [{"id": tab, "type": "tab", "label": "bench"}]
    http = "http-out"
    nodes.append({"id": http, "type": "http request", "z": tab, "name": "historian", "method": "POST",
                  "ret": "txt", "paytoqs": "ignore", "url": url, "tls": "", "persist": True, "proxy": "",
                  "insecureHTTPParser": False, "authType": "", "senderr": False, "headers": [],
                  "x": 600, "y": 40, "wires": [[]]})
    for d in range(1, devices + 1):
        name = f"dev{d:03d}"
        client, read, fn = f"client-{d}", f"read-{d}", f"decode-{d}"
        nodes.append({"id": client, "type": "modbus-client", "name": name, "clienttype": "tcp",
                      "bufferCommands": True, "stateLogEnabled": False, "queueLogEnabled": False,
                      "failureLogEnabled": True, "tcpHost": "127.0.0.1", "tcpPort": str(first_port + d - 1),
                      "tcpType": "DEFAULT", "serialPort": "/dev/ttyUSB", "serialType": "RTU-BUFFERD",
                      "serialBaudrate": "9600", "serialDatabits": "8", "serialStopbits": "1",
                      "serialParity": "none", "serialConnectionDelay": "100",
                      "serialAsciiResponseStartDelimiter": "0x3A", "unit_id": "1", "commandDelay": "1",
                      "clientTimeout": "1000", "reconnectOnTimeout": True, "reconnectTimeout": "2000",
                      "parallelUnitIdsAllowed": True})
        nodes.append({"id": read, "type": "modbus-read", "z": tab, "name": name, "topic": "",
                      "showStatusActivities": False, "logIOActivities": False, "showErrors": False,
                      "unitid": "1", "dataType": "HoldingRegister", "adr": "0", "quantity": "100",
                      "rate": "1", "rateUnit": "s", "delayOnStart": False, "startDelayTime": "",
                      "server": client, "useIOFile": False, "ioFile": "", "useIOForPayload": False,
                      "emptyMsgOnFail": False, "x": 100, "y": 40 * d, "wires": [[fn], []]})
        nodes.append({"id": fn, "type": "function", "z": tab, "name": f"decode {name}",
                      "func": f"const DEVICE = {json.dumps(name)};\n" + DECODE, "outputs": 1,
                      "noerr": 0, "x": 350, "y": 40 * d, "wires": [[http]]})
    json.dump(nodes, sys.stdout)


if __name__ == "__main__":
    main()
