#!/usr/bin/python3
"""A real gRPC server (grpcio) serving grpc.health.v1.Health/Check, for the
grpc probe's integration tests. Debian has no grpc_health module, so the
protobuf is encoded by hand: HealthCheckRequest {1: service},
HealthCheckResponse {1: status}.

usage: grpchealth.py [--mode serve|hang|error|longerror] [--tls CERT KEY] STATE PORTFILE

Binds 127.0.0.1:0 and writes its port to PORTFILE (then prints it).
serve: STATE holds lines NAME=STATUS (NAME empty for the server as a whole,
STATUS one of UNKNOWN SERVING NOT_SERVING SERVICE_UNKNOWN), read at each
call, so a test switches the answer by rewriting it; a name it does not
list is NOT_FOUND, as the real health service answers. hang: never
answers. error: UNIMPLEMENTED with a message that needs percent-encoding.
longerror: UNAVAILABLE with a 2000-byte message (a stack trace's size).
"""
import os
import signal
import sys
import threading
from concurrent import futures

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # handshakes tests fail

import grpc  # noqa: E402 (after its environment)

STATUSES = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


def varint(data, at):
    value, shift = 0, 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, at


def service_of(request):
    """The service field of a HealthCheckRequest (other fields skipped)."""
    at, name = 0, ""
    while at < len(request):
        tag, at = varint(request, at)
        if tag & 7 == 2:
            n, at = varint(request, at)
            if tag >> 3 == 1:
                name = request[at:at + n].decode()
            at += n
        elif tag & 7 == 0:
            _, at = varint(request, at)
        else:
            raise ValueError("unexpected wire type")
    return name


def statuses(path):
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if "=" in line:
                name, status = line.split("=", 1)
                table[name] = STATUSES[status]
    return table


def main():
    args = sys.argv[1:]
    mode, tls = "serve", None
    while args and args[0].startswith("--"):
        if args[0] == "--mode":
            mode, args = args[1], args[2:]
        elif args[0] == "--tls":
            tls, args = (args[1], args[2]), args[3:]
        else:
            sys.exit(__doc__)
    if len(args) != 2:
        sys.exit(__doc__)
    state, portfile = args

    def check(request, context):
        if mode == "hang":
            threading.Event().wait(3600)
        if mode == "error":
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "health is 100% off: überprüft\n")
        if mode == "longerror":
            context.abort(grpc.StatusCode.UNAVAILABLE, "trace " * 400)
        name = service_of(request)
        table = statuses(state)
        if name not in table:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return bytes([0x08, table[name]])

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(check)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         handlers=[handler])
    if tls:
        with open(tls[0], "rb") as c, open(tls[1], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tmp = portfile + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % port)
    os.rename(tmp, portfile)
    print(port, flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    os._exit(0)  # a hanging handler would hold server.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    main()
