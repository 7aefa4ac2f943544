import time
from collections import Counter

from services.ingest.replay import replay
from tests.integration.test_ingest_api import EPISODES, _event_id, event, read_topic, running


async def test_big(settings) -> None:
    async with running(settings) as r:
        items = [event(f"BIG-{i}", episode_ref=f"E{i % 37}") for i in range(5000)]
        t = time.monotonic()
        answer = await r.client.post("/v1/episode-events:batch", headers=r.auth(), json=items)
        print("batch 5000:", time.monotonic() - t)
        assert Counter(x["status"] for x in answer.json()["results"]) == {"accepted": 5000}
        again = await r.client.post("/v1/episode-events:batch", headers=r.auth(), json=items[:1200])
        assert Counter(x["status"] for x in again.json()["results"]) == {"duplicate": 1200}
        t = time.monotonic()
        n = await replay(r.app.state.runtime.db, r.app.state.runtime.broker, settings)
        print("replay:", n, time.monotonic() - t)
        assert n == 5000
        recs = await read_topic(settings, EPISODES, 10000)
        c = Counter(_event_id(x) for x in recs)
        assert len(c) == 5000 and set(c.values()) == {2}
        # per episode, order preserved: the replayed sequence equals the original one
        per: dict = {}
        for x in sorted(recs, key=lambda x: (x.partition, x.offset)):
            per.setdefault(x.key, []).append(_event_id(x))
        for seq in per.values():
            half = len(seq) // 2
            assert seq[:half] == seq[half:]
