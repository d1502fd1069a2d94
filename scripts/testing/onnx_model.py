#!/usr/bin/env python3
"""Builds small ONNX models for the tests, with PyPI onnx (no training, no network).

  onnx_model.py linear OUT W1,W2,... BIAS   y = x . w + bias; input "features" [N, len(w)], output "score" [N, 1]
  onnx_model.py slow OUT FEATURES           a deep chain of 512x512 matrix products (tens of ms per row)
  onnx_model.py two-inputs OUT              a model with two inputs, which the registry refuses
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    onnx.checker.check_model(model)
    onnx.save(model, path)


def linear(path, weights, bias):
    w = np.array(weights, dtype=np.float32).reshape(len(weights), 1)
    b = np.array([bias], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["product"]), helper.make_node("Add", ["product", "b"], ["score"])],
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(weights)])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    save(graph, path)


def slow(path, features):
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("MatMul", ["features", "w_in"], ["h0"])]
    for index in range(40):
        nodes.append(helper.make_node("MatMul", [f"h{index}", "w"], [f"m{index}"]))
        nodes.append(helper.make_node("Tanh", [f"m{index}"], [f"h{index + 1}"]))
    nodes.append(helper.make_node("MatMul", ["h40", "w_out"], ["score"]))
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(rng.standard_normal((features, 512)).astype(np.float32) * 0.05, "w_in"),
         numpy_helper.from_array(rng.standard_normal((512, 512)).astype(np.float32) * 0.05, "w"),
         numpy_helper.from_array(rng.standard_normal((512, 1)).astype(np.float32) * 0.05, "w_out")],
    )
    save(graph, path)


def two_inputs(path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["score"])], "two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 1]), helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
    )
    save(graph, path)


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "linear":
        linear(out, [float(v) for v in sys.argv[3].split(",")], float(sys.argv[4]))
    elif kind == "slow":
        slow(out, int(sys.argv[3]))
    elif kind == "two-inputs":
        two_inputs(out)
    else:
        sys.exit(f"unknown kind {kind}")
