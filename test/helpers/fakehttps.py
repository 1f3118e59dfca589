#!/usr/bin/python3
"""fakehttps: an HTTPS target with a self-signed certificate (tls/, made
once for tests: CN sidecar-test, for 127.0.0.1 and localhost, until 2126),
for the probes that run on libcurl.

    fakehttps.py PORTFILE   serve on 127.0.0.1, an ephemeral port written
                            to PORTFILE (atomically), until killed

    /status/NNN    status NNN, body "status NNN"
    /to/LOCATION   302 to LOCATION (%XX decoded)
    /hops/N        302 to /hops/N-1; /hops/0 is 200, body "arrived"
    /record/NAME   200; the request line and headers, as received, written
                   to NAME beside PORTFILE
"""
import http.server
import os
import ssl
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, extra=()):
        data = body.encode()
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def handle_any(self):
        path = self.path
        if path.startswith("/status/"):
            code = int(path[8:])
            self.answer(code, "status %d" % code)
        elif path.startswith("/to/"):
            self.answer(302, "moved", [("Location", urllib.parse.unquote(path[4:]))])
        elif path.startswith("/hops/"):
            n = int(path[6:])
            if n > 0:
                self.answer(302, "hop", [("Location", "/hops/%d" % (n - 1))])
            else:
                self.answer(200, "arrived")
        elif path.startswith("/record/"):
            name = os.path.basename(path[8:])
            with open(os.path.join(DIR, name), "w") as f:
                f.write(self.requestline + "\r\n")
                for key, value in self.headers.items():
                    f.write("%s: %s\r\n" % (key, value))
            self.answer(200, "recorded")
        else:
            self.answer(404, "not found")

    do_GET = do_HEAD = do_POST = handle_any

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client refusing the certificate is what some tests do


def main():
    global DIR
    portfile = sys.argv[1]
    DIR = os.path.dirname(os.path.abspath(portfile))
    server = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(HERE, "tls", "cert.pem"),
                        os.path.join(HERE, "tls", "key.pem"))
    # h2 offered first, as nginx, envoy and Go servers do: a client that
    # asks for it gets it, and this HTTP/1.1 server does not understand it.
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    # The handshake in each request's thread, not in accept's.
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, portfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
