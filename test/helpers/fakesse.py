#!/usr/bin/python3
"""fakesse: a stand-in for sidecar's GET /events (Server-Sent Events), for
`sidecar events` tests, one client at a time.

    fakesse.py MODE PORTFILE   serve on 127.0.0.1, an ephemeral port
                               written to PORTFILE (atomically), until
                               killed; each request's head is written to
                               PORTFILE.req

    script   200 text/event-stream, chunked and cut mid-line: retry, a
             ping, events with ids (service, probe, health, reload, an
             unknown shape), a `lost` event, one that is not JSON, one
             over 64 KiB, one more event, then the end of the stream
    hold     200, then a ping and an event every 0.2 s until the client
             goes
    refuse   401 {"error":"a valid bearer token is required"}
"""
import json
import os
import socket
import sys
import time

TS = "2026-12-04T03:20:01.123Z"

EVENTS = [
    {"ts": TS, "level": "warn", "msg": "service state changed",
     "service": "web", "from": "running", "to": "backoff"},
    {"ts": TS, "level": "warn", "msg": "probe state changed",
     "probe": "db", "importance": "critical", "service": "web",
     "from": "passing", "to": "failing",
     "reason": "HTTP 503\nsecond line \x1b[31m", "consecutive": 3},
    {"ts": TS, "level": "info", "msg": "health changed", "from": "UP",
     "to": "DEGRADED", "changed": ["status"], "live": True, "ready": True,
     "started": True},
    {"ts": TS, "level": "info", "msg": "config reloaded",
     "trigger": "SIGHUP", "added": ["service:worker"], "removed": [],
     "changed": ["probe:db"], "kept": ["service:web"], "settings": []},
    {"ts": TS, "level": "info", "msg": "something new", "n": 7,
     "who": "a b"},
]


def event(n, obj):
    return "id: %d\ndata: %s\n\n" % (n, json.dumps(obj, separators=(",", ":")))


def chunk(conn, text):
    data = text.encode()
    conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))


def head(conn, status, ctype):
    conn.sendall(("HTTP/1.1 %s\r\nContent-Type: %s\r\n"
                  "Cache-Control: no-store\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n" % (status, ctype))
                 .encode())


def script(conn):
    head(conn, "200 OK", "text/event-stream")
    body = "retry: 1000\n\n: ping\n\n" + event(1, EVENTS[0])
    body += event(2, EVENTS[1]).replace("\n", "\r\n")
    body += 'event: lost\ndata: {"lost":3}\n\n'
    body += event(6, EVENTS[2]) + event(7, EVENTS[3]) + event(8, EVENTS[4])
    body += "id: 9\ndata: {not json\n\n"
    body += "id: 10\ndata: {\"pad\":\"%s\"}\n\n" % ("x" * 100000)
    body += event(11, EVENTS[0])
    # Cut anywhere, a line across chunks included.
    for i in range(0, len(body), 777):
        chunk(conn, body[i:i + 777])
    conn.sendall(b"0\r\n\r\n")


def hold(conn):
    head(conn, "200 OK", "text/event-stream")
    chunk(conn, "retry: 1000\n\n")
    for n in range(1, 1000):
        chunk(conn, ": ping\n\n" + event(n, EVENTS[0]))
        time.sleep(0.2)


def refuse(conn):
    body = b'{"error":"a valid bearer token is required"}\n'
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: "
                 b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))


def main():
    mode, portfile = sys.argv[1], sys.argv[2]
    serve = {"script": script, "hold": hold, "refuse": refuse}[mode]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, _ = srv.accept()
        req = b""
        while b"\r\n\r\n" not in req:
            got = conn.recv(4096)
            if not got:
                break
            req += got
        with open(portfile + ".req", "wb") as f:
            f.write(req)
        try:
            serve(conn)
        except OSError:
            pass
        conn.close()


main()
