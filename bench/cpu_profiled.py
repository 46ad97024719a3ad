"""Run a module under cProfile counting CPU time (`time.process_time`), not wall time: what a
process spends, without its waits for Redis, the database or the paper host.

`python -m bench.cpu_profiled OUT -m MODULE ARGS...` dumps the profile to OUT at exit.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    out, flag, module, *args = sys.argv[1:]
    if flag != "-m":
        raise SystemExit("usage: python -m bench.cpu_profiled OUT -m MODULE [ARGS...]")
    sys.argv = [module, *args]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
