"""The Ray Serve application (REST, GraphQL and gRPC over one prediction service)."""
