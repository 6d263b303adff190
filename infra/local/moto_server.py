"""moto's SQS server, with two costs taken off its hot paths.

Under the chaos run's load (thousands of messages, a dozen long-polling workers) moto stopped
answering, for two reasons that have nothing to do with SQS's semantics:

- On every request it lists its own package directory (about 200 stat calls) to match the
  request's host against its service names, under a lock every request takes. The list does
  not change while the server runs, so it is read once.
- It asks the clock through datetime arithmetic for every message it looks at, and a receive
  looks at every message of the queue. The same instant from `time.time()` is what the
  arithmetic computes, at a fraction of the cost.

Everything else is moto's own `moto_server`.
"""

import sys
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

from moto.server import main  # noqa: E402  (after the patches, which it must see)

if __name__ == "__main__":
    sys.exit(main())
