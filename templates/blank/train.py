"""A starting point: replace this with your training code.

    ml experiment submit train.py

Files written to ML_OUTPUTS_DIR (./outputs) are kept with the run.
"""
import os
import sys

print("Hello from run", os.environ.get("ML_RUN_ID"), "with arguments", sys.argv[1:])
outputs = os.environ.get("ML_OUTPUTS_DIR", "outputs")
os.makedirs(outputs, exist_ok=True)
with open(os.path.join(outputs, "hello.txt"), "w") as f:
    f.write("hello\n")
