"""Train a tiny softmax classifier on the bundled iris data, with no dependencies.

    ml experiment submit train.py --epochs 300 --lr 0.3 --seed 7

Logs the test accuracy and writes the model to outputs/model.json.
"""
import argparse
import csv
import json
import math
import os
import random

from run_logger import log

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--epochs", type=int, default=300)
parser.add_argument("--lr", type=float, default=0.3)
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--test-fraction", type=float, default=0.3)
args = parser.parse_args()

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "iris.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
classes = sorted({r["species"] for r in rows})
data = [([float(r[k]) for k in features], classes.index(r["species"])) for r in rows]

random.Random(args.seed).shuffle(data)
n_test = int(len(data) * args.test_fraction)
test, train = data[:n_test], data[n_test:]

# Standardize with the training set's statistics.
means = [sum(x[i] for x, _ in train) / len(train) for i in range(len(features))]
stds = [math.sqrt(sum((x[i] - means[i]) ** 2 for x, _ in train) / len(train)) or 1.0 for i in range(len(features))]


def scale(x):
    return [(v - m) / s for v, m, s in zip(x, means, stds)] + [1.0]


def softmax(z):
    top = max(z)
    e = [math.exp(v - top) for v in z]
    total = sum(e)
    return [v / total for v in e]


def predict(w, x):
    return softmax([sum(wi * xi for wi, xi in zip(row, x)) for row in w])


weights = [[0.0] * (len(features) + 1) for _ in classes]
for epoch in range(1, args.epochs + 1):
    loss = 0.0
    grad = [[0.0] * len(weights[0]) for _ in classes]
    for x, y in train:
        xs = scale(x)
        p = predict(weights, xs)
        loss -= math.log(max(p[y], 1e-12))
        for c in range(len(classes)):
            g = p[c] - (1.0 if c == y else 0.0)
            for i, v in enumerate(xs):
                grad[c][i] += g * v
    for c in range(len(classes)):
        for i in range(len(weights[c])):
            weights[c][i] -= args.lr * grad[c][i] / len(train)
    if epoch % max(1, args.epochs // 10) == 0:
        log("loss", round(loss / len(train), 4), step=epoch)

correct = sum(1 for x, y in test if max(range(len(classes)), key=lambda c: predict(weights, scale(x))[c]) == y)
accuracy = correct / len(test)
log("accuracy", round(accuracy, 4))

outputs = os.environ.get("ML_OUTPUTS_DIR", "outputs")
os.makedirs(outputs, exist_ok=True)
with open(os.path.join(outputs, "model.json"), "w") as f:
    json.dump({"classes": classes, "features": features, "means": means, "stds": stds,
               "weights": weights, "accuracy": accuracy, "args": vars(args)}, f, indent=2)
print(f"Accuracy {accuracy:.4f}; model written to {os.path.join(outputs, 'model.json')}")
