"""Raw-client baselines, run as their own process so that their CPU and memory are read
from ``/proc`` exactly like the hub worker's: ``python -m bench.baseline --mode a|b|c``.

Each mode is the least work a dispatcher could do, with the hub's producer settings:

* ``a``: consume a batch, produce the same bytes to one topic, await every ack, commit;
* ``b``: the same, decoding and re-encoding each record with the hub's Avro codec;
* ``c``: raw fan-out: decode once, look up the recipients in a ``TerritoryIndex`` of N
  actors, encode one FeedRecord once, send those bytes to each recipient's topic, await
  every ack, commit. With ``--national-seed`` the index holds the W1 national actors
  (:func:`bench.data.national_actors`) instead of N fan-out actors: the raw client's
  figure for the backfill, over the same ~2,000 recipient topics as the hub.

The process prints ``ready`` once positioned at the end of its input, then runs until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.data import ActorMix, fanout_actors, national_actors
from bench.harness import producer
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from hub.domain.state import wished_communes, wished_typologies
from schemas import get_codec

BATCH = 500  # the worker's default batch size (HUB_WORKER__BATCH_SIZE)


def baseline_topic(mode: str, actor_id: str = "out") -> str:
    return f"bench.{mode}.{actor_id}"


async def run(args: argparse.Namespace) -> None:
    codec = get_codec()
    geo = get_geography()
    actors = (
        fanout_actors(args.n, args.departement, args.prefix)
        if args.national_seed is None
        else national_actors(
            geo, args.national_seed, ActorMix(guichets=args.guichets, landlords=args.landlords)
        )
    )
    index = TerritoryIndex(geo, actors)
    cons = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    prod = producer(args.bootstrap)
    await cons.start()
    await prod.start()
    # every output topic's metadata in one request before "ready", as the hub's worker does
    # (KafkaSender.warm): else the first send to each of W1's 2,000 topics waits for its
    # own metadata request, inside the measured burst
    outs = (
        [baseline_topic(args.mode)]
        if args.mode in ("a", "b")
        else [baseline_topic(args.mode, a.id) for a in actors]
    )
    await asyncio.wait_for(prod.client.set_topics(outs), timeout=60)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        meta = await cons._client.fetch_all_metadata()
        tps = [TopicPartition(args.input, p) for p in sorted(meta.partitions_for_topic(args.input))]
        cons.assign(tps)
        await cons.seek_to_end(*tps)
        for tp in tps:
            await cons.position(tp)
        print("ready", flush=True)
        out_a = baseline_topic(args.mode)
        while not stop.is_set():
            batch = await cons.getmany(timeout_ms=50, max_records=BATCH)
            if not batch:
                continue
            futs: list[Any] = []
            for msgs in batch.values():
                for m in msgs:
                    if args.mode == "a":
                        futs.append(await prod.send(out_a, m.value, key=m.key))
                    elif args.mode == "b":
                        name, body = codec.decode(m.value)
                        futs.append(await prod.send(out_a, codec.encode(name, body), key=m.key))
                    else:
                        futs.extend(await _fan_out(codec, index, prod, args.mode, m.key, m.value))
            await asyncio.gather(*futs)  # every output acknowledged before the commit
            await cons.commit()
    finally:
        await prod.stop()
        await cons.stop()


async def _fan_out(
    codec: Any, index: TerritoryIndex, prod: Any, mode: str, key: bytes, value: bytes
) -> list[Any]:
    _, event = codec.decode(value)
    demande = event["demande"]
    recipients = sorted(index.match(wished_communes(demande), wished_typologies(demande)))
    out = codec.encode(
        "FeedRecord",
        {
            "kind": "DEMANDE",
            "eventId": event["eventId"],
            "numUnique": event["numUnique"],
            "operation": event["operation"],
            "demandeVersion": 1,
            "occurredAt": event["occurredAt"],
            "dispatchedAt": event["occurredAt"],
            "profile": "consultant_sensible",
            "reason": None,
            "changedFields": [],
            "demande": demande,
            "evenement": None,
        },
    )
    return [await prod.send(baseline_topic(mode, a), out, key=key) for a in recipients]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.baseline")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--mode", choices=("a", "b", "c"), required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--departement", default="76")
    p.add_argument("--prefix", default="fan")
    p.add_argument(
        "--national-seed",
        type=int,
        default=None,
        help="mode c over the national actors of this seed (W1's)",
    )
    p.add_argument("--guichets", type=int, default=ActorMix().guichets)
    p.add_argument("--landlords", type=int, default=ActorMix().landlords)
    args = p.parse_args(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
