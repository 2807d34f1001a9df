"""gRPC contract. burnout_pb2*.py are generated from burnout.proto by `make install`."""
