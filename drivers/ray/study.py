"""Runs a liqsim study on a Ray cluster.

Plans the study (`liqsim plan`), submits every shard as a Ray task that runs the liqsim binary
(`liqsim shard run PLAN I`, one shard per task, one CPU each), waits for all of them, then merges
the partitions (`liqsim merge`). A shard already complete for the same study id is skipped by
liqsim itself, so rerunning the driver after a failure resumes where it stopped.

Every node must see the same paths (a shared filesystem): the liqsim binary, the study file and
its scenarios, the datasets folder and the shards folder.

    python drivers/ray/study.py studies/crash-depths.toml --out out/crash-depths \
        --shards-dir out/crash-depths-shards [--liqsim target/release/liqsim] \
        [--datasets datasets] [--address auto | --num-cpus 2]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import ray


@ray.remote(num_cpus=1, max_retries=2)
def run_shard(liqsim, plan, index, shards_dir, datasets, cwd):
    """One shard: the liqsim binary on one CPU; returns its exit code and output."""
    start = time.time()
    done = subprocess.run(
        [liqsim, "shard", "run", plan, str(index), "--out", shards_dir,
         "--datasets", datasets, "--threads", "1"],
        cwd=cwd, capture_output=True, text=True, check=False,
    )
    return {
        "index": index,
        "code": done.returncode,
        "stdout": done.stdout.strip(),
        "stderr": done.stderr[-4000:],
        "seconds": time.time() - start,
        "node": ray.util.get_node_ip_address(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="study file (TOML)")
    parser.add_argument("--out", required=True, help="the study's merged output folder")
    parser.add_argument("--shards-dir", required=True, help="folder of the shards' partitions")
    parser.add_argument("--plan", help="plan file to write (default: <shards-dir>.plan.json)")
    parser.add_argument("--liqsim", default="liqsim", help="the liqsim binary")
    parser.add_argument("--datasets", default="datasets", help="datasets folder (shared)")
    parser.add_argument("--address", help="an existing Ray cluster (e.g. auto); default: a local one")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local cluster")
    args = parser.parse_args()

    cwd = os.getcwd()
    absolute = lambda p: os.path.abspath(p)  # noqa: E731 (tasks may run in another folder)
    liqsim = args.liqsim if os.sep not in args.liqsim else absolute(args.liqsim)
    plan_path = absolute(args.plan or args.shards_dir.rstrip("/") + ".plan.json")
    shards_dir, datasets = absolute(args.shards_dir), absolute(args.datasets)

    start = time.time()
    subprocess.run([liqsim, "plan", args.study, "--out", plan_path], cwd=cwd, check=True)
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)

    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False)
    try:
        tasks = [run_shard.remote(liqsim, plan_path, s["shard"], shards_dir, datasets, cwd)
                 for s in plan["shards"]]
        results = ray.get(tasks)
    finally:
        ray.shutdown()

    failed = [r for r in results if r["code"] != 0]
    for r in sorted(results, key=lambda r: r["index"]):
        print(f"ray task shard {r['index']} on {r['node']}: exit {r['code']}, "
              f"{r['seconds']:.1f} s: {r['stdout'].splitlines()[-1] if r['stdout'] else ''}")
    if failed:
        for r in failed:
            print(f"shard {r['index']} failed:\n{r['stderr']}", file=sys.stderr)
        sys.exit(1)

    subprocess.run([liqsim, "merge", shards_dir, "--out", args.out], cwd=cwd, check=True)
    print(f"study {plan['study_id']}: {len(results)} shards on Ray, merged into {args.out} "
          f"in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
