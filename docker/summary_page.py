"""Fallback report: a plain HTML summary of one results JSON.

Used by `make report` only while `python -m bench report` does not exist yet.
"""
import argparse
import html
import json
import sys


def render(results: dict, source: str) -> str:
    meta = results.get("metadata", {})
    nodes = results.get("cluster", {}).get("nodes", [])
    rows = []
    for run in results.get("runs", []):
        response = (run.get("stats") or {}).get("response_s") or {}
        median = response.get("median")
        rows.append(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html.escape(str(run.get("mode"))),
                html.escape(json.dumps(run.get("params", {}), sort_keys=True)),
                "" if median is None else f"{median:.6g} s",
                "yes" if run.get("correct") else "<b>NO</b>",
            )
        )
    node_rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(str(n.get("hostname"))), html.escape(str(n.get("ip"))),
            n.get("cpus"), "head" if n.get("is_head") else "")
        for n in nodes
    )
    meta_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v))}</td></tr>"
        for k, v in sorted(meta.items()) if not isinstance(v, (dict, list))
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ray granularity benchmark</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>
<h1>Ray granularity benchmark (summary)</h1>
<p>Plain summary of <code>{html.escape(source)}</code>; the full report renderer was not available.</p>
<h2>Runs</h2><table><tr><th>mode</th><th>params</th><th>median response</th><th>correct</th></tr>{''.join(rows)}</table>
<h2>Nodes</h2><table><tr><th>hostname</th><th>ip</th><th>CPUs</th><th></th></tr>{node_rows}</table>
<h2>Metadata</h2><table>{meta_rows}</table>
</body></html>
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        with open(args.results, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"summary_page: cannot read {args.results}: {exc}", file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(render(results, args.results))
    print(f"summary_page: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
