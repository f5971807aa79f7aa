#!/usr/bin/python3
"""Fixtures written by h5py itself (Debian's python3-h5py 3.7 on HDF5 1.10.8, numpy), with the calls Keras makes:

  seed_small.h5py.weights.h5     Keras 3 save_weights of the seed_small model: saving_lib._save_state's walk
                                 (layers in order, a Bidirectional's backward_layer before forward_layer), H5Entry's
                                 create_group(path).create_group("vars") and group[key] = value (h5py's defaults).
  seed_small.h5py.legacy_model.h5  tf.keras 2 model.save("m.h5"): hdf5_format.save_model_to_hdf5 (root attributes from
                                 model_metadata: bytes JSON for model_config, str for keras_version and backend) and
                                 save_weights_to_hdf5_group under model_weights (layer_names / weight_names as lists of
                                 bytes, create_dataset(name, shape, dtype) then dset[:] = value).

Values as README.md, "Weight values"; L numbering as fixture 1 (Keras 3) and fixture 7 (tf.keras 2).
Usage: make_h5py.py OUTDIR (the model_config is read from OUTDIR/seed_small.legacy_model.h5, make_fixtures' file).
"""
import sys
import h5py
import numpy as np

out = sys.argv[1]


def value(shape, v, L):
    k = np.arange(int(np.prod(shape)), dtype=np.int64)
    return (((k * 7 + v * 13 + L * 31) % 97 - 48) / 64.0).astype(np.float32).reshape(shape)


def cell(f, i, u, L):
    return [value((f, 4 * u), 0, L), value((u, 4 * u), 1, L), value((4 * u,), 2, L)]


class Store:
    """keras/src/saving/saving_lib.py H5IOStore/H5Entry in write mode."""

    def __init__(self, path):
        self.h5_file = h5py.File(path, mode="w")

    def make(self, path, values):
        group = self.h5_file.create_group("vars") if not path else self.h5_file.create_group(path).create_group("vars")
        for i, v in enumerate(values):
            group[f"{i}"] = v


s = Store(f"{out}/seed_small.h5py.weights.h5")
s.make("", [])
for name, f, u, back, fwd in [("bidirectional", 3, 4, 0, 1), ("bidirectional_1", 8, 3, 3, 4)]:
    s.make(f"layers/{name}", [])
    s.make(f"layers/{name}/backward_layer", [])
    s.make(f"layers/{name}/backward_layer/cell", cell(f, 0, u, back))
    s.make(f"layers/{name}/forward_layer", [])
    s.make(f"layers/{name}/forward_layer/cell", cell(f, 0, u, fwd))
    if name == "bidirectional":
        s.make("layers/layer_normalization", [value((8,), 0, 2), value((8,), 1, 2)])
s.make("layers/layer_normalization_1", [value((6,), 0, 5), value((6,), 1, 5)])
s.make("layers/dense", [value((6, 2), 0, 6), value((2,), 1, 6)])
s.h5_file.close()

with h5py.File(f"{out}/seed_small.legacy_model.h5", "r") as source:
    model_config = bytes(source.attrs["model_config"])

with h5py.File(f"{out}/seed_small.h5py.legacy_model.h5", "w") as f:
    f.attrs["keras_version"] = "2.13.1"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = model_config
    g = f.create_group("model_weights")
    layers = [
        ("bidirectional", [("forward_lstm", 0), ("backward_lstm", 1)], 3, 4),
        ("layer_normalization", 2, 8, None),
        ("bidirectional_1", [("forward_lstm_1", 3), ("backward_lstm_1", 4)], 8, 3),
        ("layer_normalization_1", 5, 6, None),
        ("dense", 6, 6, 2),
    ]
    g.attrs["layer_names"] = [name.encode("utf8") for name, *_ in layers]
    g.attrs["backend"] = "tensorflow".encode("utf8")
    g.attrs["keras_version"] = "2.13.1".encode("utf8")
    for name, spec, a, b in layers:
        lg = g.create_group(name)
        if name.startswith("bidirectional"):
            names, values = [], []
            for inner, L in spec:
                for w, val in zip(["kernel", "recurrent_kernel", "bias"], cell(a, 0, b, L)):
                    names.append(f"{name}/{inner}/lstm_cell/{w}:0")
                    values.append(val)
        elif name.startswith("layer_normalization"):
            names = [f"{name}/gamma:0", f"{name}/beta:0"]
            values = [value((a,), 0, spec), value((a,), 1, spec)]
        else:
            names = [f"{name}/kernel:0", f"{name}/bias:0"]
            values = [value((a, b), 0, spec), value((b,), 1, spec)]
        lg.attrs["weight_names"] = [n.encode("utf8") for n in names]
        for n, val in zip(names, values):
            dset = lg.create_dataset(n, val.shape, dtype=val.dtype)
            dset[:] = val
    top = g.create_group("top_level_model_weights")
    top.attrs["weight_names"] = []
