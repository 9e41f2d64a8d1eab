"""Benchmark suite of the dispatch path (issue 6): ``python -m bench --help``.

Everything runs against a **private** Kafka broker started for the run (never the shared
development broker), and every hub figure is reported as a ratio to raw-client baselines
measured in the same run on the same broker. See ``docs/performance.md``.
"""
