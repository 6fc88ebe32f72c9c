"""Wait until the Ray cluster has the expected alive nodes with CPUs.

Two rules:
  wait_nodes.py N            at least N alive nodes with CPU > 0 (`make up`, EXPECT_NODES=N);
  wait_nodes.py --stable S   at least one CPU node, and the set of alive nodes unchanged
                             for S seconds since the last join or loss (the bench
                             container's automatic run, which is not told the count).
Exit 0 when ready (with --print-count, the CPU node count is the only line on stdout),
1 on timeout, 2 on bad arguments.
"""
import argparse
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nodes", type=int, nargs="?", help="alive nodes with CPU > 0 to wait for")
    ap.add_argument("--stable", type=float, metavar="S",
                    help="instead of N: wait until the alive nodes are unchanged for S seconds")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds (default 180)")
    ap.add_argument("--address", default="auto")
    ap.add_argument("--print-count", action="store_true",
                    help="print the CPU node count on stdout, progress on stderr")
    args = ap.parse_args()
    if (args.nodes is None) == (args.stable is None):
        print("wait_nodes: give either a node count N or --stable S", file=sys.stderr)
        return 2
    if (args.nodes is not None and args.nodes < 1) or (args.stable is not None and args.stable <= 0) \
            or args.timeout <= 0:
        print("wait_nodes: nodes must be >= 1, and --stable and --timeout > 0", file=sys.stderr)
        return 2
    progress = sys.stderr if args.print_count else sys.stdout
    goal = f"{args.nodes}" if args.nodes else f"stable for {args.stable:g} s"

    import ray  # imported late: it takes seconds, and --help should not

    start = time.monotonic()
    ray.init(address=args.address, logging_level="ERROR", log_to_driver=False)
    seen, changed = None, time.monotonic()
    try:
        while True:
            alive = [n for n in ray.nodes() if n.get("Alive")]
            cpu_nodes = sum(1 for n in alive if n.get("Resources", {}).get("CPU", 0) > 0)
            ids = frozenset(n["NodeID"] for n in alive)
            now = time.monotonic()
            if ids != seen:
                print(f"wait_nodes: {cpu_nodes} CPU node(s) alive ({len(alive)} nodes in all; "
                      f"waiting for {goal})", file=progress, flush=True)
                seen, changed = ids, now
            if args.nodes is not None:
                ready = cpu_nodes >= args.nodes
            else:
                ready = cpu_nodes >= 1 and now - changed >= args.stable
            if ready:
                if args.print_count:
                    print(cpu_nodes, flush=True)
                return 0
            if now - start > args.timeout:
                print(f"wait_nodes: timed out after {args.timeout:.0f} s with {cpu_nodes} CPU node(s) "
                      f"alive (waiting for {goal})", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
