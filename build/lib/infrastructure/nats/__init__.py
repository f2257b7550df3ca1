"""NATS JetStream adapters for live progress: publisher, subscriber, embedded server."""
