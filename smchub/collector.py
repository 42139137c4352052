"""The garbage collector's settings for a hub that runs for months.

A full collection walks every tracked object while holding the event loop. Measured in
`make bench` (1,000 people, 10,000 projects, 100 requests a second; benchmarks/README.md):
the hub tracks about 320,000 objects once started (mostly imported modules) and 480,000
once 200 people have signed in, and a full collection took 150-220 ms of CPU, every 13 to
26 seconds: the p99 of the API was the length of a collection.

- What start-up made lives as long as the hub: frozen (gc.freeze), no collection walks it
  again. Garbage is collected first, so none of it is frozen.
- Young collections run after 10,000 allocations rather than 700: objects of requests
  still in flight at a young collection are promoted towards the oldest generation, whose
  growth is what triggers a full collection; ten times fewer young collections promote
  that much less, and a young collection of 10,000 objects takes a few milliseconds.
"""

import gc

YOUNG_COLLECTION_THRESHOLD = 10_000


class CollectorSettings:
    """Applies the settings once the hub has started; restores the previous ones at stop
    (a hub started and stopped inside a longer process, as in tests, leaves no trace)."""

    def __init__(self):
        self._previous_thresholds = None

    def apply(self):
        self._previous_thresholds = gc.get_threshold()
        gc.collect()
        gc.freeze()
        _, middle, oldest = self._previous_thresholds
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)

    def restore(self):
        if self._previous_thresholds is None:
            return
        gc.set_threshold(*self._previous_thresholds)
        self._previous_thresholds = None
        gc.unfreeze()
