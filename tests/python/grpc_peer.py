"""A real gRPC server and client (PyPI grpcio) for the end-to-end tests.

No generated code: the service `demo.Greeter` is registered with a generic handler and messages
are raw protobuf bytes (HelloRequest/HelloReply: field 1, a string).

    grpc_peer.py server PORT [--log-calls]
                                      serve SayHello and SayGoodbye on 127.0.0.1:PORT; with
                                      --log-calls, print "call PATH" for every call that
                                      reaches the server, whatever its path
    grpc_peer.py path TARGET PATH     call PATH exactly as given (as :path), print
                                      "CODE|details|reply"
"""
import sys
from concurrent import futures

import grpc


def encode(text):
    data = text.encode()
    return b"\x0a" + bytes([len(data)]) + data


def decode(msg):
    if len(msg) >= 2 and msg[0] == 0x0A:
        return msg[2 : 2 + msg[1]].decode()
    return ""


class Logged(grpc.GenericRpcHandler):
    """Prints the path of every call the server is asked to dispatch, then dispatches it."""

    def __init__(self, inner):
        self.inner = inner

    def service(self, handler_call_details):
        print(f"call {handler_call_details.method}", flush=True)
        return self.inner.service(handler_call_details)


def serve(port, log_calls):
    def say(prefix):
        def handler(request, context):
            return encode(f"{prefix} {decode(request)}")
        return grpc.unary_unary_rpc_method_handler(handler)

    generic = grpc.method_handlers_generic_handler(
        "demo.Greeter", {"SayHello": say("Hello"), "SayGoodbye": say("Goodbye")}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((Logged(generic) if log_calls else generic,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(target, path):
    with grpc.insecure_channel(target) as channel:
        stub = channel.unary_unary(path)
        try:
            reply = stub(encode("sockmesh"), timeout=10)
            print(f"OK||{decode(reply)}")
        except grpc.RpcError as e:
            print(f"{e.code().name}|{e.details()}|")


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), "--log-calls" in sys.argv[3:])
    elif sys.argv[1] == "path":
        call(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: grpc_peer.py server PORT [--log-calls] | path TARGET PATH")
