"""Log metrics and parameters of an ml run, like Azure ML Workbench's run_logger.

    from run_logger import log, log_param
    log("accuracy", 0.96)            # one value
    log("loss", 0.41, step=3)        # one point of a curve
    log_param("lr", 0.001)           # a parameter the run used

Each call prints the value and, inside an `ml experiment submit` run, appends a JSON line to the
file named by ML_METRICS_FILE: {"name", "value", "step"} for a metric, {"param", "value"} for a
parameter. A parameter's value is kept as a string, number, boolean or None; anything else (a
list, a dict) is kept as its JSON text, and a NaN or infinity as its text ("nan", "inf").
"""
import json
import math
import os


def log(name, value, step=None):
    print(f"metric {name} = {value}" + ("" if step is None else f" (step {step})"), flush=True)
    path = os.environ.get("ML_METRICS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value, "step": step}) + "\n")


def log_param(name, value):
    print(f"param {name} = {value}", flush=True)
    path = os.environ.get("ML_METRICS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"param": name, "value": _param_value(value)}) + "\n")


def _param_value(value):
    """A value that JSON and ml can hold: ml keeps only scalars, and JSON has no NaN or infinity."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes, list, tuple, dict)):
        try:
            value = value.item()  # a numpy scalar, as the Python value it holds
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)  # as ml writes a list of a params file
