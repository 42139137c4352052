"""The garbage collector's settings for a running hub, and their undoing at stop."""

import gc

from smchub.collector import YOUNG_COLLECTION_THRESHOLD, CollectorSettings


class Cycle:
    def __init__(self):
        self.me = self


def test_start_up_objects_are_frozen_and_young_collections_rarer_until_restored():
    before = gc.get_threshold()
    kept = [Cycle() for _ in range(100)]
    settings = CollectorSettings()
    settings.apply()
    try:
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
        # what start-up had frozen is out of reach of a full collection
        assert all(o is not kept[0] for o in gc.get_objects(generation=2))
    finally:
        settings.restore()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    # collectable again once the hub stopped
    assert any(o is kept[0] for o in gc.get_objects(generation=2))
