"""A stand-in for train_gpt.py: replays a real record log so sweeps can be tested without training.

Configured by env, like the real script (swept params are env vars too):
  STANDIN_LOG    the log to replay verbatim (required)
  STANDIN_SLEEP  seconds to sleep after every printed line (default 0)
  STANDIN_FAULT  `exit:N` exit with code N after the replay, `nan:STEP` print `train_loss:nan` from
                 step STEP on, `hang:S` sleep S seconds after the replay (to hit the trial timeout),
                 `orphan:S` first start a helper that ignores SIGTERM and sleeps S seconds in its own
                 session (like a torchrun rank), writing its pid to $OUTPUT_DIR/orphan.pid
  STANDIN_ECHO   comma-separated env names whose values rank 0 prints first (`echo NAME=value`)
A replayed line `standin:sleep:S` is not printed: the stand-in sleeps S seconds there instead.
It honours OUTPUT_DIR and SEED: each launch appends one JSON line to $OUTPUT_DIR/standin.jsonl
(seed, CUDA_VISIBLE_DEVICES, PGOLF_NODE_ID, ranks, pid, env names) before printing, and writes a fake
artifact `final_model.int8.ptz`. Only rank 0 prints, as in the real script.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

STEP_TRAIN = re.compile(r"^step:(\d+)/\d+ train_loss:\S+")


def main() -> int:
    out = Path(os.environ.get("OUTPUT_DIR", "."))
    out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ.get("RANK", "0"))
    record = {"seed": os.environ.get("SEED"), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
              "node_id": os.environ.get("PGOLF_NODE_ID"), "rank": rank,
              "world_size": int(os.environ.get("WORLD_SIZE", "1")), "pid": os.getpid(), "time": time.time(),
              "env_names": sorted(os.environ)}
    with open(out / "standin.jsonl", "a") as launches:
        launches.write(json.dumps(record) + "\n")
    if rank != 0:
        return 0
    fault, _, value = os.environ.get("STANDIN_FAULT", "").partition(":")
    if fault == "orphan":
        code = f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep({float(value)})"
        helper = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        (out / "orphan.pid").write_text(str(helper.pid))
    for name in filter(None, os.environ.get("STANDIN_ECHO", "").split(",")):
        print(f"echo {name}={os.environ.get(name)}", flush=True)
    sleep = float(os.environ.get("STANDIN_SLEEP", "0"))
    for line in Path(os.environ["STANDIN_LOG"]).read_text(errors="replace").splitlines():
        if line.startswith("standin:sleep:"):
            time.sleep(float(line.rpartition(":")[2]))
            continue
        match = STEP_TRAIN.match(line)
        if fault == "nan" and match and int(match.group(1)) >= int(value):
            line = re.sub(r"train_loss:\S+", "train_loss:nan", line)
        print(line, flush=True)
        if sleep:
            time.sleep(sleep)
    (out / "final_model.int8.ptz").write_bytes(f"stand-in artifact, seed {record['seed']}".encode())
    if fault == "hang":
        time.sleep(float(value))
    return int(value) if fault == "exit" else 0


if __name__ == "__main__":
    sys.exit(main())
