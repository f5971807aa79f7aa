"""Writes the JSON configs of the Keras fixtures (stdlib only).

Keras 3 configs follow serialization_lib.serialize_keras_object (module / class_name / config / registered_name /
build_config / compile_config) in the layout of MissionKeras3 / MaskedLstmKeras3 in Engine.Tests/Models/KerasFixtures.cs;
the tf.keras 2 model_config follows MissionKeras2 there. json.dumps with default separators, as Keras writes them.
"""
import json
import sys

out = sys.argv[1]

DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def init(cls, config=None):
    return {"module": "keras.initializers", "class_name": cls, "config": config or {}, "registered_name": None}


def layer(cls, config, build_shape=None):
    d = {"module": "keras.layers", "class_name": cls, "config": config, "registered_name": None}
    if build_shape is not None:
        d["build_config"] = {"input_shape": build_shape}
    return d


def base(name):
    return {"name": name, "trainable": True, "dtype": DTYPE}


def lstm(name, units, return_sequences, go_backwards=False, zero_output_for_mask=False, use_bias=True):
    c = base(name)
    c.update({
        "return_sequences": return_sequences, "return_state": False, "go_backwards": go_backwards,
        "stateful": False, "unroll": False, "zero_output_for_mask": zero_output_for_mask,
        "units": units, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": use_bias,
        "kernel_initializer": init("GlorotUniform", {"seed": None}),
        "recurrent_initializer": init("OrthogonalInitializer", {"gain": 1.0, "seed": None}),
        "bias_initializer": init("Zeros"),
        "unit_forget_bias": True, "kernel_regularizer": None, "recurrent_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0,
        "seed": None})
    return c


def bidirectional(name, lstm_name, units, return_sequences, input_shape):
    c = base(name)
    c["merge_mode"] = "concat"
    c["layer"] = layer("LSTM", lstm("forward_" + lstm_name, units, return_sequences,
                                    zero_output_for_mask=return_sequences), input_shape)
    c["backward_layer"] = layer("LSTM", lstm("backward_" + lstm_name, units, return_sequences, go_backwards=True,
                                             zero_output_for_mask=return_sequences), input_shape)
    return layer("Bidirectional", c, input_shape)


def layer_norm(name, input_shape, center=True, scale=True):
    c = base(name)
    c.update({"axis": [-1], "epsilon": 0.001, "center": center, "scale": scale, "rms_scaling": False,
              "beta_initializer": init("Zeros"), "gamma_initializer": init("Ones"),
              "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
              "gamma_constraint": None})
    return layer("LayerNormalization", c, input_shape)


def dense(name, units, input_shape, use_bias=True):
    c = base(name)
    c.update({"units": units, "activation": "linear", "use_bias": use_bias,
              "kernel_initializer": init("GlorotUniform", {"seed": None}), "bias_initializer": init("Zeros"),
              "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
              "bias_constraint": None})
    return layer("Dense", c, input_shape)


def input_layer(shape):
    return layer("InputLayer", {"batch_shape": shape, "dtype": "float32", "sparse": False, "ragged": False,
                                "name": "input_layer", "optional": False})


def sequential(layers, input_shape, compile_config=None):
    c = base("sequential")
    c["layers"] = layers
    c["build_input_shape"] = input_shape
    d = {"module": "keras", "class_name": "Sequential", "config": c, "registered_name": None,
         "build_config": {"input_shape": input_shape}}
    if compile_config is not None:
        d["compile_config"] = compile_config
    return d


ADAM = {"module": "keras.optimizers", "class_name": "Adam", "config": {
    "name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": None, "clipnorm": None,
    "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
    "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
    "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}, "registered_name": None}
COMPILE = {"optimizer": ADAM, "loss": "mse", "loss_weights": None, "metrics": None, "weighted_metrics": None,
           "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}

seed_small = sequential([
    input_layer([None, 5, 3]),
    bidirectional("bidirectional", "lstm", 4, True, [None, 5, 3]),
    layer_norm("layer_normalization", [None, 5, 8]),
    bidirectional("bidirectional_1", "lstm_1", 3, False, [None, 5, 8]),
    layer_norm("layer_normalization_1", [None, 6]),
    dense("dense", 2, [None, 6]),
], [None, 5, 3], COMPILE)

masking = base("masking")
masking["mask_value"] = 0.0
dropout = base("dropout")
dropout.update({"rate": 0.2, "seed": None, "noise_shape": None})
mixed = sequential([
    input_layer([None, 6, 3]),
    layer("Masking", masking, [None, 6, 3]),
    layer("LSTM", lstm("lstm", 3, True), [None, 6, 3]),
    layer("Dropout", dropout, [None, 6, 3]),
    layer("LSTM", lstm("lstm_1", 2, True), [None, 6, 3]),
    layer_norm("layer_normalization", [None, 6, 2], center=False),
    layer("LSTM", lstm("lstm_2", 2, False), [None, 6, 2]),
    dense("dense", 1, [None, 2], use_bias=False),
], [None, 6, 3])


# tf.keras 2 (2.13) model_config, as saving_utils.model_metadata puts it in the root attribute of model.save('x.h5')
def k2_lstm(name, units, return_sequences):
    return {"class_name": "LSTM", "config": {
        "name": name, "trainable": True, "dtype": "float32", "return_sequences": return_sequences,
        "return_state": False, "go_backwards": False, "stateful": False, "unroll": False, "time_major": False,
        "units": units, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
        "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
        "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}}


def k2_ln(name, axis):
    return {"class_name": "LayerNormalization", "config": {
        "name": name, "trainable": True, "dtype": "float32", "axis": axis, "epsilon": 0.001, "center": True,
        "scale": True, "beta_initializer": {"class_name": "Zeros", "config": {}},
        "gamma_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": None,
        "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}}


legacy = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5, 3], "dtype": "float32", "sparse": False,
                                            "ragged": False, "name": "input_1"}},
    {"class_name": "Bidirectional", "config": {"name": "bidirectional", "trainable": True, "dtype": "float32",
                                               "layer": k2_lstm("lstm", 4, True), "merge_mode": "concat"}},
    k2_ln("layer_normalization", [2]),
    {"class_name": "Bidirectional", "config": {"name": "bidirectional_1", "trainable": True, "dtype": "float32",
                                               "layer": k2_lstm("lstm_1", 3, False), "merge_mode": "concat"}},
    k2_ln("layer_normalization_1", [1]),
    {"class_name": "Dense", "config": {
        "name": "dense", "trainable": True, "dtype": "float32", "units": 2, "activation": "linear", "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}]}}

metadata = {"keras_version": "3.6.0", "date_saved": "2026-01-01@00:00:00"}


def write(name, obj):
    with open(f"{out}/{name}", "w", newline="") as f:
        f.write(json.dumps(obj))


write("seed_small.config.json", seed_small)
write("mixed.config.json", mixed)
write("seed_small.legacy_model.config.json", legacy)
write("seed_small.metadata.json", metadata)
