#!/usr/bin/env python3
"""An HJ 212 platform for tests, written apart from the agent's codec: it checks every frame's
length (UTF-8 bytes) and CRC (HJ 212-2017 App. A), acknowledges uploads with 9014 (not one whose CRC or
ending fails: a platform discards such a frame, and the station resends it), drops the first
`--drop-acks` acknowledgements on purpose, sends each `--command` on a session's first frame (before
its acknowledgement), each `--later` command `--later-delay` seconds after it (while the station may
be idle), and writes each frame it received as one JSON line to `--log`.

    hj212_platform.py --port 9000 --log seen.jsonl [--drop-acks 2] [--command 'CN=1062;RtdInterval=60']...
"""
import argparse
import json
import socket
import threading
import time


def crc(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ byte
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= 0xA001
    return reg


def frame(segment: str) -> bytes:
    data = segment.encode("utf-8")
    return b"##%04d" % len(data) + data + b"%04X\r\n" % crc(data)


def parse(segment: str) -> dict:
    head, _, cp = segment.partition("CP=&&")
    fields = dict(p.split("=", 1) for p in head.split(";") if p)
    body = cp[:-2] if cp.endswith("&&") else None
    groups = [dict(f.split("=", 1) for f in g.split(",")) for g in (body or "").split(";") if g]
    return {"fields": fields, "cp": groups, "cp_closed": body is not None}


class Platform:
    def __init__(self, args):
        self.args = args
        self.dropped = 0
        self.lock = threading.Lock()
        self.log = open(args.log, "a", encoding="utf-8")

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.log.flush()

    def serve(self, conn):
        buf = b""
        commanded = False
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                start = buf.find(b"##")
                if start < 0 or len(buf) < start + 6:
                    break
                buf = buf[start:]
                try:
                    length = int(buf[2:6].decode("ascii"))
                except ValueError:
                    self.record({"error": "length not decimal"})
                    buf = buf[2:]
                    continue
                total = 6 + length + 6
                if len(buf) < total:
                    break
                data, tail = buf[6:6 + length], buf[6 + length:total]
                buf = buf[total:]
                entry = {"len_ok": True, "crc_ok": tail[:4] == b"%04X" % crc(data), "crlf_ok": tail[4:] == b"\r\n"}
                try:
                    segment = data.decode("utf-8")
                except UnicodeDecodeError:
                    entry["error"] = "not UTF-8"
                    self.record(entry)
                    continue
                entry.update(parse(segment))
                entry["segment"] = segment
                self.record(entry)
                f = entry["fields"]
                cn = f.get("CN", "")
                if not commanded:
                    commanded = True
                    for command in self.args.command:
                        self.send_command(conn, command, f)
                    for command in self.args.later:
                        threading.Timer(self.args.later_delay, self.send_command, (conn, command, f)).start()
                whole = entry["crc_ok"] and entry["crlf_ok"]
                if whole and cn in ("2011", "2051", "2061", "2031") and int(f.get("Flag", "0")) & 1:
                    if self.dropped < self.args.drop_acks:
                        self.dropped += 1
                    else:
                        ack = "QN=%s;ST=91;CN=9014;PW=%s;MN=%s;Flag=4;CP=&&&&" % (f.get("QN", ""), f.get("PW", ""), f.get("MN", ""))
                        conn.sendall(frame(ack))

    def send_command(self, conn, command, f):
        qn = time.strftime("%Y%m%d%H%M%S") + "000"
        cn_part, _, cp = command.partition(";")
        cmd = "QN=%s;ST=91;%s;PW=%s;MN=%s;Flag=5;CP=&&%s&&" % (qn, cn_part, f.get("PW", ""), f.get("MN", ""), cp)
        try:
            conn.sendall(frame(cmd))
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--drop-acks", type=int, default=0)
    p.add_argument("--command", action="append", default=[])
    p.add_argument("--later", action="append", default=[])
    p.add_argument("--later-delay", type=float, default=1.0)
    args = p.parse_args()
    platform = Platform(args)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen()
    print("listening", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=platform.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
