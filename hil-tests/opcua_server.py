"""An OPC UA server on asyncua (an implementation independent of the agent's) for the driver tests.

Serves namespace urn:edge-agent:test (index 2) with a boiler's nodes under Chinese names, a numeric, a
GUID and an array node, one writable node, and optionally N changing nodes for the load bench; with
--pki, the --policy endpoints; --user/--password or --user-cert for who may log on. Reads
commands on stdin, one a line: `delete <node id>`, `add <string id> <value>`, `set <node id> <value>`.
Prints `ready` once it listens.
"""

import argparse
import asyncio
import datetime
import math
import sys
import uuid

from asyncua import Server, ua

URI = "urn:edge-agent:test"
GUID = "09087e75-8e5e-499b-954f-f2a9603db28a"


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pki", help="make (or reuse) the server's certificate here and serve --policy")
    p.add_argument("--policy", action="append", help="asyncua SecurityPolicyType names (repeatable)")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--user-cert", help="make (or reuse) user-cert.der and user-key.pem here; accept only it")
    p.add_argument("--many", type=int, default=0)
    p.add_argument("--period", type=float, default=0.1)
    a = p.parse_args()

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{a.port}/")
    server.set_server_name("edge-agent test server")
    if a.pki:
        from pathlib import Path
        from cryptography.x509.oid import ExtendedKeyUsageOID
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        app_uri = "urn:edge-agent:test-server"
        await server.set_application_uri(app_uri)
        key, cert = Path(a.pki) / "server-key.pem", Path(a.pki) / "server-cert.der"
        await setup_self_signed_certificate(
            key, cert, app_uri, "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "锅炉房测试服务器"}
        )
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        policies = a.policy or ["Basic256Sha256_SignAndEncrypt"]
        server.set_security_policy([getattr(ua.SecurityPolicyType, p) for p in policies])
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    user_cert = None
    if a.user_cert:
        from pathlib import Path
        from cryptography.x509.oid import ExtendedKeyUsageOID
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        key, cert = Path(a.user_cert) / "user-key.pem", Path(a.user_cert) / "user-cert.der"
        await setup_self_signed_certificate(
            key, cert, "urn:edge-agent:test-user", "127.0.0.1", [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "司炉工"}
        )
        user_cert = cert.read_bytes()
    if a.user or a.user_cert:
        class Users:
            def get_user(self, iserver, username=None, password=None, certificate=None):
                from asyncua.crypto.permission_rules import User, UserRole
                if a.user and username == a.user and password == a.password:
                    return User(role=UserRole.User)
                if user_cert and certificate == user_cert:
                    return User(role=UserRole.User)
                return None
        server.iserver.set_user_manager(Users())
        tokens = ([ua.UserNameIdentityToken] if a.user else []) + ([ua.X509IdentityToken] if a.user_cert else [])
        server.set_identity_tokens(tokens)
    ns = await server.register_namespace(URI)
    objects = server.nodes.objects
    boiler = await objects.add_object(ua.NodeId("锅炉一号", ns), "锅炉一号")
    temp = await boiler.add_variable(ua.NodeId("锅炉一号.温度", ns), "温度", 80.0)
    pressure = await boiler.add_variable(ua.NodeId(1001, ns), "压力", 1.25)
    level = await boiler.add_variable(ua.NodeId(uuid.UUID(GUID), ns), "液位", ua.Variant(42, ua.VariantType.Int32))
    valve = await boiler.add_variable(ua.NodeId("锅炉一号.给水阀", ns), "给水阀", 40.0)
    await valve.set_writable()
    await boiler.add_variable(ua.NodeId("炉膛温度", ns), "炉膛温度", [1.5, 2.5, 3.5])
    await boiler.add_variable(ua.NodeId("锅炉一号.编号", ns), "编号", uuid.UUID(GUID))
    many = await add_many(server, objects, ns, a.many)

    async def commands():
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            words = line.decode().split()
            try:
                if words[0] == "delete":
                    await server.delete_nodes([server.get_node(words[1])])
                elif words[0] == "add":
                    await boiler.add_variable(ua.NodeId(words[1], ns), words[1], float(words[2]))
                elif words[0] == "set":
                    await server.get_node(words[1]).write_value(float(words[2]))
                print("ok " + words[0], flush=True)
            except Exception as e:  # the test reads the answer
                print(f"error {e}", flush=True)

    async with server:
        print("ready", flush=True)
        task = asyncio.create_task(commands())
        t = 0
        while True:
            t += 1
            # A step of 1.0 every tenth write, and between them a wobble of 0.01 a deadband of 0.5 hides
            # (asyncua compares with the previous write, not the last reported value: steps, not a ramp).
            await temp.write_value(80.0 + (t // 10) + 0.01 * math.sin(t))
            await pressure.write_value(1.25 + 0.001 * (t % 7))
            # Straight into the address space (no per-write checks): 10 000 writes in well under 100 ms.
            now = datetime.datetime.now(datetime.timezone.utc)
            for i, nodeid in enumerate(many):
                value = ua.DataValue(ua.Variant(float(t + i), ua.VariantType.Double), SourceTimestamp=now)
                await server.write_attribute_value(nodeid, value)
            await asyncio.sleep(a.period)


async def add_many(server, parent, ns, n):
    """`ns=2;s=v0` .. `v{n-1}`, Doubles, 100 to a folder and added 100 at a time: asyncua checks a new
    node against every sibling, so 10 000 under one parent, one by one, take minutes to add."""
    ids = []
    for start in range(0, n, 100):
        folder = await parent.add_folder(ua.NodeId(f"many{start // 100}", ns), f"many{start // 100}")
        items = []
        for i in range(start, min(start + 100, n)):
            attrs = ua.VariableAttributes(
                DisplayName=ua.LocalizedText(f"v{i}"),
                DataType=ua.NodeId(ua.ObjectIds.Double),
                Value=ua.Variant(0.0, ua.VariantType.Double),
                ValueRank=ua.ValueRank.Scalar,
                AccessLevel=ua.AccessLevel.CurrentRead.mask,
                UserAccessLevel=ua.AccessLevel.CurrentRead.mask,
            )
            items.append(
                ua.AddNodesItem(
                    RequestedNewNodeId=ua.NodeId(f"v{i}", ns),
                    BrowseName=ua.QualifiedName(f"v{i}", ns),
                    NodeClass=ua.NodeClass.Variable,
                    ParentNodeId=folder.nodeid,
                    ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent),
                    TypeDefinition=ua.NodeId(ua.ObjectIds.BaseDataVariableType),
                    NodeAttributes=attrs,
                )
            )
        for r in await server.iserver.isession.add_nodes(items):
            r.StatusCode.check()
        ids.extend(it.RequestedNewNodeId for it in items)
    return ids


if __name__ == "__main__":
    asyncio.run(main())
