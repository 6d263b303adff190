"""moto's SQS server, with a race fixed and three costs taken off its hot paths.

The race: deleting a message rebuilds the queue's message list without the queue's lock, so a
message sent meanwhile (appended under the lock to the old list) vanishes. The chaos run lost
two whole SendMessageBatch calls to it: an accepted bulk whose 20 items never came back. Real
SQS never loses an acknowledged send, so deletes, and the receive that moves messages to a
dead-letter queue, take the queue's lock here. (A receive waiting for messages releases it.)

The costs: under the chaos run's load (thousands of messages, a dozen long-polling workers)
moto stopped answering, for reasons that have nothing to do with SQS's semantics:

- On every request it lists its own package directory (about 200 stat calls) to match the
  request's host against its service names, under a lock every request takes. The list does
  not change while the server runs, so it is read once.
- It asks the clock through datetime arithmetic for every message it looks at, and a receive
  looks at every message of the queue. The same instant from `time.time()` is what the
  arithmetic computes, at a fraction of the cost.
- Sending a message reads the queue's attributes to learn whether it deduplicates by content,
  and computing them counts every message of the queue three times, under the queue's lock.
  A standard queue never deduplicates, so for it the send skips the count.

Everything else is moto's own `moto_server`.
"""

import sys
import threading
import time

from moto import backends
from moto.core import utils
from moto.sqs import models

MODULES = tuple(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: MODULES


def unix_time(dt=None):
    return time.time() if dt is None else utils.unix_time(dt)


def unix_time_millis(dt=None):
    return time.time() * 1000.0 if dt is None else utils.unix_time_millis(dt)


models.unix_time = unix_time
models.unix_time_millis = unix_time_millis

_sending = threading.local()
_attributes = models.Queue.attributes
_send_message = models.SQSBackend.send_message


def attributes(queue):
    if getattr(_sending, "active", False) and not queue.fifo_queue:
        return {}
    return _attributes.fget(queue)


def send_message(backend, *args, **kwargs):
    _sending.active = True
    try:
        return _send_message(backend, *args, **kwargs)
    finally:
        _sending.active = False


models.Queue.attributes = property(attributes)
models.SQSBackend.send_message = send_message

_delete_message = models.Queue.delete_message
_receive_message = models.SQSBackend.receive_message


def delete_message(queue, receipt_handle):
    with queue._messages_lock:
        return _delete_message(queue, receipt_handle)


def receive_message(backend, queue_name, *args, **kwargs):
    with backend.get_queue(queue_name)._messages_lock:
        return _receive_message(backend, queue_name, *args, **kwargs)


models.Queue.delete_message = delete_message
models.SQSBackend.receive_message = receive_message

from moto.server import main  # noqa: E402  (after the patches, which it must see)

if __name__ == "__main__":
    sys.exit(main())
