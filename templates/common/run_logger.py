"""Log metrics of an ml run, like Azure ML Workbench's run_logger.

    from run_logger import log
    log("accuracy", 0.96)            # one value
    log("loss", 0.41, step=3)        # one point of a curve

Each call prints the value and, inside an `ml experiment submit` run, appends a JSON line
{"name", "value", "step"} to the file named by ML_METRICS_FILE.
"""
import json
import os


def log(name, value, step=None):
    print(f"metric {name} = {value}" + ("" if step is None else f" (step {step})"), flush=True)
    path = os.environ.get("ML_METRICS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value, "step": step}) + "\n")
