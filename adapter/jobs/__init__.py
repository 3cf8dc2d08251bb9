"""Background work: the broker, the two actors, recovery and retry operations."""

from adapter.jobs.actors import Actors, declare_actors
from adapter.jobs.broker import QUEUES, build_broker, queue_depth

__all__ = ["QUEUES", "Actors", "build_broker", "declare_actors", "queue_depth"]
