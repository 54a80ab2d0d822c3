"""A WSGI application served by the standard library's WSGI server (wsgiref), which maps every
request field to an `HTTP_*` environ key as CGI does: `X-Evil` and `X_Evil` both become
`HTTP_X_EVIL`.

    python3 wsgi_origin.py PORT     # prints "ready" once listening

Every request is answered 200 with the environ's `HTTP_*` keys it got, one `KEY=value` a line,
sorted.
"""
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


def app(environ, start_response):
    keys = sorted(k for k in environ if k.startswith("HTTP_"))
    body = "".join(f"{k}={environ[k]}\n" for k in keys).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = make_server("127.0.0.1", int(sys.argv[1]), app, handler_class=Quiet)
    print("ready", flush=True)
    server.serve_forever()
