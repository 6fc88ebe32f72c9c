"""Wait until the Ray cluster has the expected number of alive nodes with CPUs.

Run inside the bench container by `make up`, so `up` returns only once the cluster
is usable. Exit 0 when ready, 1 on timeout, 2 on bad arguments.
"""
import argparse
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nodes", type=int, help="alive nodes with CPU > 0 to wait for")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds (default 180)")
    ap.add_argument("--address", default="auto")
    args = ap.parse_args()
    if args.nodes < 1 or args.timeout <= 0:
        print("wait_nodes: nodes must be >= 1 and timeout > 0", file=sys.stderr)
        return 2

    import ray  # imported late: it takes seconds, and --help should not

    start = time.monotonic()
    ray.init(address=args.address, logging_level="ERROR", log_to_driver=False)
    seen = -1
    try:
        while True:
            alive = [n for n in ray.nodes() if n.get("Alive")]
            cpu_nodes = sum(1 for n in alive if n.get("Resources", {}).get("CPU", 0) > 0)
            if cpu_nodes != seen:
                print(f"wait_nodes: {cpu_nodes}/{args.nodes} CPU nodes alive "
                      f"({len(alive)} nodes in all)", flush=True)
                seen = cpu_nodes
            if cpu_nodes >= args.nodes:
                return 0
            if time.monotonic() - start > args.timeout:
                print(f"wait_nodes: timed out after {args.timeout:.0f} s with "
                      f"{cpu_nodes}/{args.nodes} CPU nodes alive", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
