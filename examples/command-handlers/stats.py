#!/usr/bin/env python3
"""A Flotilla command handler in plain Python (standard library only).

The job arrives as JSON on stdin; the result goes to stdout as JSON; anything printed on stderr
becomes the job's log lines. `flotilla:progress F NOTE` on stderr reports progress. Exit 65 when
retrying cannot help (the job goes straight to the DLQ); any other failure is retried.
"""
import json
import statistics
import sys

DO_NOT_RETRY = 65


def progress(fraction, note=""):
    print(f"flotilla:progress {fraction} {note}", file=sys.stderr, flush=True)


def main():
    job = json.load(sys.stdin)
    if "payloadFile" in job:  # a very large payload comes as a file instead
        with open(job["payloadFile"]) as f:
            job["payload"] = json.load(f)
    numbers = job["payload"].get("numbers")
    if not isinstance(numbers, list) or not numbers:
        print(f"job {job['id']}: payload needs a non-empty 'numbers' list", file=sys.stderr)
        return DO_NOT_RETRY
    print(f"job {job['id']} attempt {job['attempt']}: {len(numbers)} numbers", file=sys.stderr)
    progress(0.5, "summing")
    result = {
        "count": len(numbers),
        "sum": sum(numbers),
        "mean": statistics.fmean(numbers),
        "stdev": statistics.pstdev(numbers),
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
